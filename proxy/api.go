package proxy

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
)

// ToxiproxyVersion is the Toxiproxy release whose HTTP API the server
// answers; GET /version reports it, so clients that check the version to
// pick features treat faultline as that release.
const ToxiproxyVersion = "2.12.0"

// maxBody bounds the request bodies the API reads.
const maxBody = 1 << 20

// Handler answers Toxiproxy's HTTP API, with its paths, JSON shapes,
// status codes and error bodies ({"error": "...", "status": N}):
//
//	GET    /proxies                       every proxy with its toxics, by name
//	POST   /proxies                       create a proxy (201; 409 if the name is taken)
//	POST   /populate                      create or replace proxies from a list (201)
//	POST   /reset                         enable every proxy, remove every toxic (204)
//	GET    /version                       {"version": "2.12.0"}
//	GET    /proxies/{proxy}               one proxy
//	POST   /proxies/{proxy}               update it (also PATCH)
//	DELETE /proxies/{proxy}               delete it (204)
//	GET    /proxies/{proxy}/toxics        its toxics
//	POST   /proxies/{proxy}/toxics        add a toxic (200, as Toxiproxy; 409 if the name is taken)
//	GET    /proxies/{proxy}/toxics/{name} one toxic
//	POST   /proxies/{proxy}/toxics/{name} update its attributes and toxicity (also PATCH)
//	DELETE /proxies/{proxy}/toxics/{name} remove it (204)
//
// faultline's extensions: a toxic's stream may be "both"; a proxy may have
// "protocol": "http", which allows the http_abort, http_delay and
// http_headers toxics. Unlike Toxiproxy, unknown or out-of-range toxic
// attributes are refused with 400 rather than ignored. Requests from web
// browsers are refused (403), as Toxiproxy does, so a web page cannot
// drive the API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /proxies", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.views())
	})
	mux.HandleFunc("POST /proxies", s.createProxy)
	mux.HandleFunc("POST /populate", s.populate)
	mux.HandleFunc("POST /reset", func(w http.ResponseWriter, _ *http.Request) {
		if err := s.reset(); err != nil {
			writeError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json;charset=utf-8")
		_, _ = io.WriteString(w, `{"version": "`+ToxiproxyVersion+`"}`+"\n")
	})
	mux.HandleFunc("GET /proxies/{proxy}", func(w http.ResponseWriter, r *http.Request) {
		p, err := s.get(r.PathValue("proxy"))
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, p.view())
	})
	mux.HandleFunc("POST /proxies/{proxy}", s.updateProxy)
	mux.HandleFunc("PATCH /proxies/{proxy}", s.updateProxy)
	mux.HandleFunc("DELETE /proxies/{proxy}", func(w http.ResponseWriter, r *http.Request) {
		if err := s.remove(r.PathValue("proxy")); err != nil {
			writeError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /proxies/{proxy}/toxics", func(w http.ResponseWriter, r *http.Request) {
		p, err := s.get(r.PathValue("proxy"))
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, p.chain.Load().views())
	})
	mux.HandleFunc("POST /proxies/{proxy}/toxics", func(w http.ResponseWriter, r *http.Request) {
		body, ok := readBody(w, r)
		if !ok {
			return
		}
		t, err := s.addToxic(r.PathValue("proxy"), body)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, t)
	})
	mux.HandleFunc("GET /proxies/{proxy}/toxics/{toxic}", func(w http.ResponseWriter, r *http.Request) {
		t, err := s.toxic(r.PathValue("proxy"), r.PathValue("toxic"))
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, t)
	})
	mux.HandleFunc("POST /proxies/{proxy}/toxics/{toxic}", s.updateToxicHandler)
	mux.HandleFunc("PATCH /proxies/{proxy}/toxics/{toxic}", s.updateToxicHandler)
	mux.HandleFunc("DELETE /proxies/{proxy}/toxics/{toxic}", func(w http.ResponseWriter, r *http.Request) {
		if err := s.removeToxic(r.PathValue("proxy"), r.PathValue("toxic")); err != nil {
			writeError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	return refuseBrowsers(mux)
}

func (s *Server) createProxy(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	c := Config{Enabled: true}
	if err := json.Unmarshal(body, &c); err != nil {
		writeError(w, badBody(err))
		return
	}
	v, err := s.create(c)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, v)
}

func (s *Server) updateProxy(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	v, err := s.update(r.PathValue("proxy"), body)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// populateEntry is a proxy in a populate list; enabled may be left out.
type populateEntry struct {
	Config
	Enabled *bool `json:"enabled"`
}

// DecodePopulate reads a populate list (a JSON array of proxies, as POST
// /populate and Toxiproxy's -config file take); a proxy without enabled is
// enabled.
func DecodePopulate(r io.Reader) ([]Config, error) {
	var in []populateEntry
	if err := json.NewDecoder(r).Decode(&in); err != nil {
		return nil, badBody(err)
	}
	cfgs := make([]Config, len(in))
	for i, e := range in {
		cfgs[i] = e.Config
		cfgs[i].Enabled = e.Enabled == nil || *e.Enabled
	}
	return cfgs, nil
}

func (s *Server) populate(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	cfgs, err := DecodePopulate(strings.NewReader(string(body)))
	if err != nil {
		writeError(w, err)
		return
	}
	views, err := s.Populate(cfgs)
	out := struct {
		Error   string `json:"error,omitempty"`
		Status  int    `json:"status,omitempty"`
		Proxies []View `json:"proxies"`
	}{Proxies: views}
	status := http.StatusCreated
	if err != nil {
		status = statusOf(err)
		out.Error, out.Status = err.Error(), status
	}
	writeJSON(w, status, out)
}

func (s *Server) updateToxicHandler(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	t, err := s.updateToxic(r.PathValue("proxy"), r.PathValue("toxic"), body)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, &apiError{msg: "bad request body: larger than 1MiB", status: http.StatusRequestEntityTooLarge})
		} else {
			writeError(w, badBody(err))
		}
		return nil, false
	}
	return body, true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeError answers with Toxiproxy's error body.
func writeError(w http.ResponseWriter, err error) {
	status := statusOf(err)
	b, _ := json.Marshal(struct {
		Error  string `json:"error"`
		Status int    `json:"status"`
	}{err.Error(), status})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// refuseBrowsers answers 403 to web browsers, as Toxiproxy does.
func refuseBrowsers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.UserAgent(), "Mozilla/") {
			http.Error(w, "User agent not allowed", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

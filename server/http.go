package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/faultline-dev/faultline/server/auth"
	"github.com/faultline-dev/faultline/store"
)

// Body limits: API requests are small; agent polls carry events and whole
// journals (the agent batches up to 4 MiB, one big journal alone).
const (
	maxBody     = 1 << 20
	maxPollBody = 32 << 20
)

// apiError is an answer other than success, as JSON:
// {"error": "…", "errors": [positioned document errors]}.
type apiError struct {
	Status  int    `json:"-"`
	Message string `json:"error"`
	Errors  any    `json:"errors,omitempty"`
}

func (e *apiError) Error() string { return e.Message }

func errorf(status int, format string, args ...any) *apiError {
	return &apiError{Status: status, Message: fmt.Sprintf(format, args...)}
}

// caller is who sent an authenticated request.
type caller struct {
	token store.Token
	role  auth.Role
}

// actor names the caller in the audit log and in runs.
func (c *caller) actor() string {
	if c == nil {
		return "server"
	}
	return fmt.Sprintf("%s (%s)", c.token.Name, c.token.ID)
}

// access is who may use a route.
type access int

const (
	public        access = iota // no token
	authenticated               // any valid token
	roleNeeded                  // a token whose role allows route.role
)

// route is one endpoint: its method and pattern, who may call it, its
// body limit and its handler. The table is also what the OpenAPI test
// checks.
type route struct {
	method, pattern string
	access          access
	role            auth.Role
	limit           int64
	h               func(w http.ResponseWriter, r *http.Request, c *caller) error
}

func (s *Server) buildMux() *http.ServeMux {
	mux := http.NewServeMux()
	for _, rt := range s.routes {
		mux.Handle(rt.method+" "+rt.pattern, s.wrap(rt))
	}
	for pattern, h := range s.pageTable() {
		mux.Handle(pattern, h)
	}
	return mux
}

// serveHTTP refuses path tricks, answers unknown routes in JSON, and
// hands the rest to the route.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	if msg := pathTrick(r); msg != "" {
		writeError(w, errorf(http.StatusBadRequest, "%s", msg))
		return
	}
	h, pattern := s.mux.Handler(r)
	if pattern == "" {
		// No route: let the mux decide between 404 and 405 (with Allow),
		// and answer in JSON.
		rec := &statusRecorder{header: http.Header{}}
		h.ServeHTTP(rec, r)
		if allow := rec.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		if rec.status == http.StatusMethodNotAllowed {
			writeError(w, errorf(rec.status, "%s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, rec.header.Get("Allow")))
			return
		}
		writeError(w, errorf(http.StatusNotFound, "no such endpoint: %s %s (see /api/openapi.json)", r.Method, r.URL.Path))
		return
	}
	s.mux.ServeHTTP(w, r) // it sets the path values; Handler does not
}

// pathTrick explains why a request path is refused, or returns "": paths
// must be clean (no . or .. segments, no doubled or trailing slash) and
// free of encoded slashes, backslashes and NULs, so no route ever sees a
// name that means something else.
func pathTrick(r *http.Request) string {
	raw := strings.ToLower(r.URL.EscapedPath())
	for _, bad := range []string{"%2f", "%5c", "%00", "%2e"} {
		if strings.Contains(raw, bad) {
			return "the path holds an encoded '/', '\\', '.' or NUL"
		}
	}
	p := r.URL.Path
	if strings.ContainsAny(p, "\\\x00") || p != path.Clean(p) || (len(p) > 1 && strings.HasSuffix(p, "/")) {
		return "the path is not canonical (no '.', '..', '//' or trailing '/')"
	}
	return ""
}

// idRE is what a name or id in a path may look like.
var idRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// wrap authenticates and authorises, checks path values, caps the body and
// turns the handler's error into an answer.
func (s *Server) wrap(rt route) http.Handler {
	limit := rt.limit
	if limit == 0 {
		limit = maxBody
	}
	params := patternParams(rt.pattern)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := s.authenticate(r, rt)
		if err != nil {
			if ae, ok := err.(*apiError); ok && ae.Status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="faultline"`)
			}
			s.fail(w, r, err)
			return
		}
		for _, p := range params {
			if v := r.PathValue(p); !idRE.MatchString(v) || strings.Contains(v, "..") {
				s.fail(w, r, errorf(http.StatusNotFound, "no such %s: %q", p, v))
				return
			}
		}
		if r.ContentLength > limit {
			s.fail(w, r, errorf(http.StatusRequestEntityTooLarge, "the request body is %d bytes; the limit is %d", r.ContentLength, limit))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		if err := rt.h(w, r, c); err != nil {
			s.fail(w, r, err)
		}
	})
}

func patternParams(pattern string) []string {
	var out []string
	for _, seg := range strings.Split(pattern, "/") {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			out = append(out, strings.TrimSuffix(strings.Trim(seg, "{}"), "..."))
		}
	}
	return out
}

// authenticate finds the caller of a route that needs one.
func (s *Server) authenticate(r *http.Request, rt route) (*caller, error) {
	if rt.access == public {
		return nil, nil
	}
	secret := auth.Bearer(r.Header.Get("Authorization"))
	if secret == "" {
		return nil, errorf(http.StatusUnauthorized, "no token: send Authorization: Bearer <token>")
	}
	tok, err := s.st.TokenByHash(r.Context(), auth.Hash(secret))
	if errors.Is(err, store.ErrNotFound) {
		return nil, errorf(http.StatusUnauthorized, "unknown token")
	}
	if err != nil {
		return nil, err
	}
	now := time.Now()
	switch {
	case !tok.Revoked.IsZero():
		return nil, errorf(http.StatusUnauthorized, "the token was revoked on %s", tok.Revoked.Format(time.RFC3339))
	case !tok.Expires.IsZero() && !now.Before(tok.Expires):
		return nil, errorf(http.StatusUnauthorized, "the token expired on %s", tok.Expires.Format(time.RFC3339))
	}
	c := &caller{token: tok, role: auth.Role(tok.Role)}
	if rt.access == roleNeeded && !c.role.Allows(rt.role) {
		return nil, errorf(http.StatusForbidden, "token %q has role %s; this needs %s", tok.Name, tok.Role, rt.role)
	}
	return c, nil
}

// fail answers err: API errors as they are, store errors as 404/409, an
// oversized body as 413, anything else as 500 (logged, not shown).
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
	case errors.As(err, &mbe):
		ae = errorf(http.StatusRequestEntityTooLarge, "the request body is over the limit of %d bytes", mbe.Limit)
	case errors.Is(err, store.ErrNotFound):
		ae = errorf(http.StatusNotFound, "%v", err)
	case errors.Is(err, store.ErrExists):
		ae = errorf(http.StatusConflict, "%v", err)
	default:
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		ae = errorf(http.StatusInternalServerError, "internal error; the server log has the details")
	}
	writeError(w, ae)
}

func writeError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.Status, e)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// decode reads a JSON object into v: the body must be JSON, one value,
// with no field v does not have.
func decode(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return errorf(http.StatusUnsupportedMediaType, "send the body as application/json, not %q", ct)
		}
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return errorf(http.StatusBadRequest, "malformed JSON: the body holds more than one JSON value")
	}
	return nil
}

// jsonError explains a decoding failure to the client.
func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return err
	case errors.Is(err, io.EOF):
		return errorf(http.StatusBadRequest, "malformed JSON: the body is empty; send a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errorf(http.StatusBadRequest, "malformed JSON: the body ends in the middle of a value")
	case errors.As(err, &syn):
		return errorf(http.StatusBadRequest, "malformed JSON at byte %d: %v", syn.Offset, syn)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "the body"
		}
		return errorf(http.StatusBadRequest, "malformed JSON: %s is a JSON %s; it must be %s", field, typ.Value, jsonKind(typ.Type.Kind().String()))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return errorf(http.StatusBadRequest, "unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return errorf(http.StatusBadRequest, "malformed JSON: %v", err)
}

func jsonKind(goKind string) string {
	switch goKind {
	case "struct", "map":
		return "an object"
	case "slice", "array":
		return "an array"
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "ptr":
		return "an object or null"
	}
	return "a number"
}

// statusRecorder keeps the status and headers a handler writes and
// discards the body.
type statusRecorder struct {
	header http.Header
	status int
}

func (r *statusRecorder) Header() http.Header         { return r.header }
func (r *statusRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *statusRecorder) WriteHeader(code int)        { r.status = code }

package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// raw sends a request exactly as written (no client normalises its path)
// and returns the status, the Allow and WWW-Authenticate headers and the
// body.
func (e *env) raw(method, path, token, contentType string, body []byte, chunked bool) (int, http.Header, []byte) {
	e.t.Helper()
	u, _ := url.Parse(e.url)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		e.t.Fatal(err)
	}
	defer conn.Close()
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", method, path, u.Host)
	if token != "" {
		fmt.Fprintf(&b, "Authorization: Bearer %s\r\n", token)
	}
	if contentType != "" {
		fmt.Fprintf(&b, "Content-Type: %s\r\n", contentType)
	}
	switch {
	case chunked:
		fmt.Fprintf(&b, "Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", len(body), body)
	case body != nil:
		fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(body), body)
	default:
		b.WriteString("\r\n")
	}
	if _, err := conn.Write(b.Bytes()); err != nil {
		e.t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, out
}

// Each refused request gets the right status and a JSON error, and
// changes nothing in the store.
func TestSecurity(t *testing.T) {
	e := newEnv(t, envOptions{}).withTokens()
	name := e.createExperiment(document(t, "wait.yaml", "$WAIT", "10ms"))
	expiring := e.newToken("short-lived", "admin", "1ms")
	revoked := e.newToken("revoked", "admin", "")
	var toks []struct{ ID, Name string }
	e.do("GET", "/api/v1/tokens", e.admin, nil, http.StatusOK, &toks)
	var revokedID, runnerID string
	for _, tk := range toks {
		switch tk.Name {
		case "revoked":
			revokedID = tk.ID
		case "runner":
			runnerID = tk.ID
		}
	}
	e.do("DELETE", "/api/v1/tokens/"+revokedID, e.admin, nil, http.StatusNoContent, nil)
	time.Sleep(10 * time.Millisecond) // the short-lived token expires

	doc, _ := json.Marshal(documentRequest{Document: document(t, "wait.yaml", "$WAIT", "20ms")})
	newDoc := strings.Replace(string(doc), "short-wait", "another", 1)
	big := []byte(`{"document": "` + strings.Repeat("x", 2<<20) + `"}`)
	const js = "application/json"
	tests := []struct {
		name, method, path, token, ctype, body string
		chunked                                bool
		status                                 int
		says                                   string
	}{
		{name: "no token", method: "GET", path: "/api/v1/runs", status: 401, says: "no token"},
		{name: "no token on a mutation", method: "POST", path: "/api/v1/halt", ctype: js, body: `{}`, status: 401},
		{name: "unknown token", method: "DELETE", path: "/api/v1/experiments/" + name, token: "fl_nope", status: 401, says: "unknown token"},
		{name: "expired token", method: "DELETE", path: "/api/v1/experiments/" + name, token: expiring, status: 401, says: "expired"},
		{name: "revoked token", method: "POST", path: "/api/v1/halt", token: revoked, status: 401, says: "revoked"},
		{name: "viewer creates", method: "POST", path: "/api/v1/experiments", token: e.viewer, ctype: js, body: newDoc, status: 403, says: "needs runner"},
		{name: "viewer halts all", method: "POST", path: "/api/v1/halt", token: e.viewer, status: 403},
		{name: "runner deletes", method: "DELETE", path: "/api/v1/experiments/" + name, token: e.runner, status: 403, says: "needs admin"},
		{name: "runner makes a token", method: "POST", path: "/api/v1/tokens", token: e.runner, ctype: js, body: `{"name":"x","role":"admin"}`, status: 403},
		{name: "runner revokes itself", method: "DELETE", path: "/api/v1/tokens/" + runnerID, token: e.runner, status: 403},
		{name: "agent reads runs", method: "GET", path: "/api/v1/runs", token: e.agent, status: 403, says: "needs viewer"},
		{name: "agent starts a run", method: "POST", path: "/api/v1/runs", token: e.agent, ctype: js, body: `{"experiment":"` + name + `"}`, status: 403},
		{name: "viewer registers as an agent", method: "POST", path: "/api/v1/agents/register", token: e.viewer, ctype: js, body: `{"name":"x"}`, status: 403, says: "needs agent"},
		{name: "empty body", method: "POST", path: "/api/v1/experiments", token: e.runner, ctype: js, body: "", status: 400, says: "empty"},
		{name: "truncated JSON", method: "POST", path: "/api/v1/experiments", token: e.runner, ctype: js, body: `{"document": "x`, status: 400, says: "malformed JSON"},
		{name: "syntax error", method: "POST", path: "/api/v1/experiments", token: e.runner, ctype: js, body: `{"document" "x"}`, status: 400, says: "malformed JSON at byte"},
		{name: "wrong type", method: "POST", path: "/api/v1/runs", token: e.runner, ctype: js, body: `{"experiment": 5}`, status: 400, says: "experiment is a JSON number"},
		{name: "not an object", method: "POST", path: "/api/v1/runs", token: e.runner, ctype: js, body: `["` + name + `"]`, status: 400},
		{name: "unknown field", method: "POST", path: "/api/v1/runs", token: e.runner, ctype: js, body: `{"experiment":"` + name + `","agent":{}}`, status: 400, says: `unknown field "agent"`},
		{name: "unknown nested field", method: "POST", path: "/api/v1/runs", token: e.runner, ctype: js, body: `{"experiment":"` + name + `","agents":{"lables":{}}}`, status: 400, says: `unknown field "lables"`},
		{name: "two values", method: "POST", path: "/api/v1/runs", token: e.runner, ctype: js, body: `{"experiment":"` + name + `"} {}`, status: 400, says: "more than one"},
		{name: "not JSON", method: "POST", path: "/api/v1/runs", token: e.runner, ctype: "text/plain", body: `{"experiment":"` + name + `"}`, status: 415},
		{name: "oversized body", method: "POST", path: "/api/v1/experiments", token: e.runner, ctype: js, body: string(big), status: 413},
		{name: "oversized chunked body", method: "POST", path: "/api/v1/experiments", token: e.runner, ctype: js, body: string(big), chunked: true, status: 413},
		{name: "oversized halt reason", method: "POST", path: "/api/v1/halt", token: e.runner, ctype: js, body: `{"reason": "` + strings.Repeat("x", 2<<20) + `"}`, status: 413},
		{name: "dot-dot", method: "DELETE", path: "/api/v1/experiments/../tokens/" + runnerID, token: e.admin, status: 400, says: "not canonical"},
		{name: "encoded slashes", method: "DELETE", path: "/api/v1/experiments/..%2ftokens%2f" + runnerID, token: e.admin, status: 400, says: "encoded"},
		{name: "encoded dots", method: "GET", path: "/api/v1/experiments/%2e%2e", token: e.admin, status: 400},
		{name: "encoded backslash", method: "GET", path: "/api/v1/experiments/a%5cb", token: e.admin, status: 400},
		{name: "encoded NUL", method: "GET", path: "/api/v1/experiments/a%00b", token: e.admin, status: 400},
		{name: "double slash", method: "GET", path: "/api/v1//runs", token: e.admin, status: 400},
		{name: "trailing slash", method: "GET", path: "/api/v1/runs/", token: e.admin, status: 400},
		{name: "dot segment", method: "GET", path: "/api/v1/./runs", token: e.admin, status: 400},
		{name: "dot name", method: "DELETE", path: "/api/v1/experiments/.hidden", token: e.admin, status: 404},
		{name: "no such endpoint", method: "GET", path: "/api/v1/secrets", token: e.admin, status: 404, says: "no such endpoint"},
		{name: "wrong method", method: "PATCH", path: "/api/v1/runs", token: e.admin, status: 405, says: "not allowed"},
		{name: "no such run", method: "POST", path: "/api/v1/runs/nope/halt", token: e.runner, status: 404},
		{name: "no such experiment", method: "POST", path: "/api/v1/runs", token: e.runner, ctype: js, body: `{"experiment":"nope"}`, status: 404},
		{name: "bad mode", method: "POST", path: "/api/v1/runs", token: e.runner, ctype: js, body: `{"experiment":"` + name + `","agents":{"mode":"most"}}`, status: 400, says: "unknown mode"},
		{name: "no agent matches", method: "POST", path: "/api/v1/runs", token: e.runner, ctype: js, body: `{"experiment":"` + name + `","agents":{"labels":{"zone":"z"}}}`, status: 409, says: "no online agent"},
		{name: "invalid document", method: "POST", path: "/api/v1/experiments", token: e.runner, ctype: js, body: mustJSON(documentRequest{Document: document(t, "invalid.yaml")}), status: 422},
		{name: "bad filter", method: "GET", path: "/api/v1/runs?status=exploded", token: e.viewer, status: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.counts()
			var body []byte
			if tt.body != "" || tt.ctype != "" {
				body = []byte(tt.body)
			}
			status, h, out := e.raw(tt.method, tt.path, tt.token, tt.ctype, body, tt.chunked)
			if status != tt.status {
				t.Fatalf("%d %s, want %d", status, out, tt.status)
			}
			var msg apiError
			if err := json.Unmarshal(out, &msg); err != nil || msg.Message == "" {
				t.Fatalf("not a JSON error: %s", out)
			}
			if tt.says != "" && !strings.Contains(msg.Message, tt.says) {
				t.Errorf("error %q does not say %q", msg.Message, tt.says)
			}
			if status == 401 && h.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if status == 405 && h.Get("Allow") == "" {
				t.Error("405 without Allow")
			}
			if after := e.counts(); after != before {
				t.Fatalf("the store changed: %+v → %+v", before, after)
			}
		})
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

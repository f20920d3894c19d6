package server

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/store"
)

// Every route is in the OpenAPI document with its method, and the
// document describes no route the server lacks.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	e := newEnv(t, envOptions{})
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	e.do("GET", "/api/openapi.json", "", nil, http.StatusOK, &doc)
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi %q", doc.OpenAPI)
	}
	served := map[string]bool{}
	for _, rt := range e.srv.routes {
		key := strings.ToLower(rt.method) + " " + rt.pattern
		served[key] = true
		if _, ok := doc.Paths[rt.pattern][strings.ToLower(rt.method)]; !ok {
			t.Errorf("%s %s is not in openapi.yaml", rt.method, rt.pattern)
		}
	}
	for p, ops := range doc.Paths {
		for op := range ops {
			if op == "parameters" {
				continue
			}
			if !served[op+" "+p] {
				t.Errorf("openapi.yaml describes %s %s, which the server does not serve", strings.ToUpper(op), p)
			}
		}
	}
}

func TestExperimentsAPI(t *testing.T) {
	e := newEnv(t, envOptions{}).withTokens()
	doc := document(t, "wait.yaml", "$WAIT", "10ms")

	var v1 store.ExperimentVersion
	e.do("POST", "/api/v1/experiments", e.runner, documentRequest{Document: doc}, http.StatusCreated, &v1)
	if v1.Experiment != "short-wait" || v1.Version != 1 || !strings.HasPrefix(v1.CreatedBy, "runner (tok-") {
		t.Fatalf("created %+v", v1)
	}
	var conflict apiError
	e.do("POST", "/api/v1/experiments", e.runner, documentRequest{Document: doc}, http.StatusConflict, &conflict)
	if !strings.Contains(conflict.Message, "PUT /api/v1/experiments/short-wait") {
		t.Errorf("conflict says %q", conflict.Message)
	}

	// An invalid document: 422 with each error at its line and column.
	var invalid struct {
		Error  string
		Errors []struct {
			Line, Column int
			Field        string
			Message      string
		}
	}
	e.do("POST", "/api/v1/experiments", e.runner, documentRequest{Document: document(t, "invalid.yaml")}, http.StatusUnprocessableEntity, &invalid)
	if len(invalid.Errors) != 1 || invalid.Errors[0].Line != 8 || invalid.Errors[0].Column != 14 ||
		invalid.Errors[0].Field != "spec.method[0].fault" || !strings.Contains(invalid.Errors[0].Message, `did you mean "process.pause"`) {
		t.Fatalf("errors %+v", invalid.Errors)
	}

	var res validationResult
	e.do("POST", "/api/v1/experiments/validate", e.viewer, documentRequest{Document: document(t, "invalid.yaml")}, http.StatusOK, &res)
	if res.Valid || len(res.Errors) != 1 || res.Errors[0].Line != 8 {
		t.Fatalf("validate invalid: %+v", res)
	}
	e.do("POST", "/api/v1/experiments/validate", e.viewer, documentRequest{Document: doc}, http.StatusOK, &res)
	if !res.Valid || res.Name != "short-wait" || len(res.Errors) != 0 {
		t.Fatalf("validate valid: %+v", res)
	}

	var v2 store.ExperimentVersion
	e.do("PUT", "/api/v1/experiments/short-wait", e.runner, documentRequest{Document: document(t, "wait.yaml", "$WAIT", "20ms")}, http.StatusOK, &v2)
	if v2.Version != 2 {
		t.Fatalf("second version %+v", v2)
	}
	e.do("PUT", "/api/v1/experiments/other", e.runner, documentRequest{Document: doc}, http.StatusBadRequest, nil)
	e.do("PUT", "/api/v1/experiments/short-wait", e.runner, documentRequest{Document: document(t, "invalid.yaml")}, http.StatusUnprocessableEntity, nil)

	var got experimentView
	e.do("GET", "/api/v1/experiments/short-wait", e.viewer, nil, http.StatusOK, &got)
	if got.CurrentVersion != 2 || !strings.Contains(got.Document, "wait: 20ms") {
		t.Fatalf("get %+v", got)
	}
	var history []store.ExperimentVersion
	e.do("GET", "/api/v1/experiments/short-wait/versions", e.viewer, nil, http.StatusOK, &history)
	if len(history) != 2 || history[0].Version != 2 || history[1].Version != 1 {
		t.Fatalf("history %+v", history)
	}
	var old store.ExperimentVersion
	e.do("GET", "/api/v1/experiments/short-wait/versions/1", e.viewer, nil, http.StatusOK, &old)
	if !strings.Contains(old.Document, "wait: 10ms") {
		t.Fatalf("version 1 %+v", old)
	}
	e.do("GET", "/api/v1/experiments/short-wait/versions/3", e.viewer, nil, http.StatusNotFound, nil)
	e.do("GET", "/api/v1/experiments/short-wait/versions/x", e.viewer, nil, http.StatusNotFound, nil)

	// A run of version 1 after version 2 was saved runs version 1.
	run := e.startRun(startRequest{Experiment: "short-wait", Version: 1})
	if run.Version != 1 || !strings.Contains(run.Document, "10ms") {
		t.Fatalf("run %+v", run)
	}
	e.waitRun(run.ID, 10*time.Second)

	var list []store.Experiment
	e.do("GET", "/api/v1/experiments", e.viewer, nil, http.StatusOK, &list)
	if len(list) != 1 || list[0].Name != "short-wait" {
		t.Fatalf("list %+v", list)
	}
	e.do("DELETE", "/api/v1/experiments/short-wait", e.runner, nil, http.StatusForbidden, nil)
	e.do("DELETE", "/api/v1/experiments/short-wait", e.admin, nil, http.StatusNoContent, nil)
	e.do("GET", "/api/v1/experiments/short-wait", e.viewer, nil, http.StatusNotFound, nil)
	// The run keeps the document it ran.
	var kept runView
	e.do("GET", "/api/v1/runs/"+run.ID, e.viewer, nil, http.StatusOK, &kept)
	if !strings.Contains(kept.Document, "10ms") {
		t.Fatalf("run lost its document: %+v", kept)
	}

	// Every change is audited with who made it.
	var entries []store.AuditEntry
	e.do("GET", "/api/v1/audit?actor="+url.QueryEscape(v1.CreatedBy), e.viewer, nil, http.StatusOK, &entries)
	var actions []string
	for _, a := range entries {
		actions = append(actions, a.Action+" "+a.Object)
	}
	want := []string{"run.start run/" + run.ID, "experiment.update experiment/short-wait", "experiment.create experiment/short-wait"}
	if !slices.Equal(actions, want) {
		t.Fatalf("audit by the runner %v, want %v", actions, want)
	}
	e.do("GET", "/api/v1/audit?action=experiment.delete", e.viewer, nil, http.StatusOK, &entries)
	if len(entries) != 1 || !strings.HasPrefix(entries[0].Actor, "admin (tok-") || entries[0].At.IsZero() {
		t.Fatalf("delete audited as %+v", entries)
	}
}

func TestTokensAPI(t *testing.T) {
	e := newEnv(t, envOptions{})
	var created newToken
	e.do("POST", "/api/v1/tokens", e.admin, tokenRequest{Name: "ci", Role: "runner", ExpiresIn: "720h"}, http.StatusCreated, &created)
	if !strings.HasPrefix(created.Secret, "fl_") || created.Role != "runner" || time.Until(created.Expires) < 719*time.Hour {
		t.Fatalf("created %+v", created)
	}
	var who store.Token
	e.do("GET", "/api/v1/whoami", created.Secret, nil, http.StatusOK, &who)
	if who.ID != created.ID || who.Name != "ci" {
		t.Fatalf("whoami %+v", who)
	}
	status, body := e.request("GET", "/api/v1/tokens", e.admin, nil)
	if status != 200 || strings.Contains(string(body), created.Secret) || strings.Contains(string(body), `"hash"`) {
		t.Fatalf("token list %d leaks a secret or hash: %s", status, body)
	}
	// The store keeps the hash, never the secret.
	stored, err := e.st.Tokens(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range stored {
		if tok.Hash == created.Secret || len(tok.Hash) != 64 {
			t.Fatalf("stored token %+v", tok)
		}
	}
	e.do("POST", "/api/v1/tokens", e.admin, tokenRequest{Name: "x", Role: "root"}, http.StatusBadRequest, nil)
	e.do("POST", "/api/v1/tokens", e.admin, tokenRequest{Name: "", Role: "viewer"}, http.StatusBadRequest, nil)
	e.do("POST", "/api/v1/tokens", e.admin, tokenRequest{Name: "x", Role: "viewer", ExpiresIn: "-1h"}, http.StatusBadRequest, nil)

	e.do("DELETE", "/api/v1/tokens/"+created.ID, e.admin, nil, http.StatusNoContent, nil)
	e.do("DELETE", "/api/v1/tokens/"+created.ID, e.admin, nil, http.StatusNotFound, nil)
	var denied apiError
	e.do("GET", "/api/v1/whoami", created.Secret, nil, http.StatusUnauthorized, &denied)
	if !strings.Contains(denied.Message, "revoked") {
		t.Fatalf("revoked token: %q", denied.Message)
	}
}

// FAULTLINE_ADMIN_TOKEN seeds the first token only.
func TestAdminTokenSeededOnFirstStartOnly(t *testing.T) {
	db := store.DefaultURL(t.TempDir())
	first := newEnv(t, envOptions{dbURL: db, adminToken: "fl_first"})
	first.do("GET", "/api/v1/whoami", "fl_first", nil, http.StatusOK, nil)
	first.stop()
	second := newEnv(t, envOptions{dbURL: db, adminToken: "fl_second"})
	second.do("GET", "/api/v1/whoami", "fl_first", nil, http.StatusOK, nil)
	second.do("GET", "/api/v1/whoami", "fl_second", nil, http.StatusUnauthorized, nil)
}

func TestWebhooksAPI(t *testing.T) {
	e := newEnv(t, envOptions{}).withTokens()
	other := newHookReceiver(t)
	var wh store.Webhook
	e.do("POST", "/api/v1/webhooks", e.admin, webhookRequest{URL: other.url, Events: []string{"run.started"}}, http.StatusCreated, &wh)
	e.do("POST", "/api/v1/webhooks", e.admin, webhookRequest{URL: "ftp://x"}, http.StatusBadRequest, nil)
	e.do("POST", "/api/v1/webhooks", e.admin, webhookRequest{URL: other.url, Events: []string{"run.exploded"}}, http.StatusBadRequest, nil)
	e.do("POST", "/api/v1/webhooks", e.runner, webhookRequest{URL: other.url}, http.StatusForbidden, nil)
	var list []store.Webhook
	e.do("GET", "/api/v1/webhooks", e.admin, nil, http.StatusOK, &list)
	if len(list) != 1 || list[0].ID != wh.ID {
		t.Fatalf("webhooks %+v", list)
	}
	name := e.createExperiment(document(t, "wait.yaml", "$WAIT", "10ms"))
	run := e.startRun(startRequest{Experiment: name})
	got := other.wait(t, "run.started", run.ID, 10*time.Second)
	if !strings.Contains(got.Text, run.ID) || got.Experiment != name || !strings.HasPrefix(got.Actor, "runner") {
		t.Fatalf("webhook %+v", got)
	}
	e.hooks.wait(t, "run.started", run.ID, 10*time.Second) // the --webhook one too
	e.do("DELETE", "/api/v1/webhooks/"+wh.ID, e.admin, nil, http.StatusNoContent, nil)
	e.waitRun(run.ID, 10*time.Second)
}

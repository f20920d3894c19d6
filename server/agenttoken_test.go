package server

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/agent/protocol"
	"github.com/faultline-dev/faultline/journal"
	"github.com/faultline-dev/faultline/server/auth"
	"github.com/faultline-dev/faultline/store"
)

// An agent token acts as the one agent it was issued for: agent A's token
// cannot register, poll, heartbeat or report results as agent B. Each
// attempt is refused with 403, changes nothing of B's, and is audited.
func TestAgentTokenBoundToName(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := newEnv(t, envOptions{dbURL: b.url(t), pollWait: 200 * time.Millisecond, lease: 10 * time.Second}).withTokens()
			a := e.newAgent("web-a", map[string]string{"zone": "a"})
			victim := e.newAgent("web-b", map[string]string{"zone": "b"})
			name := e.createExperiment(document(t, "wait.yaml", "$WAIT", "10ms"))
			run := e.startRun(startRequest{Experiment: name, Agents: &store.AgentSelector{Labels: map[string]string{"zone": "b"}}})
			var v runView
			e.do("GET", "/api/v1/runs/"+run.ID, e.viewer, nil, http.StatusOK, &v)
			if len(v.Assignments) != 1 {
				t.Fatalf("assignments %+v", v.Assignments)
			}
			asg := protocol.Assignment{ID: v.Assignments[0].ID, RunID: run.ID}
			before, err := e.st.Agent(t.Context(), victim.id)
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(10 * time.Millisecond) // a heartbeat would move LastSeen

			poll := "/api/v1/agents/" + victim.id + "/poll"
			tests := []struct {
				name, path string
				body       any
			}{
				{"register as B", "/api/v1/agents/register", protocol.Register{Name: "web-b", Hostname: "web-a.test", Version: "test"}},
				{"register as B by hostname", "/api/v1/agents/register", protocol.Register{Hostname: "web-b", Version: "test"}},
				{"poll as B for its assignments", poll, protocol.Poll{Wait: protocol.Duration(10 * time.Millisecond)}},
				{"heartbeat as B", poll, protocol.Poll{Labels: map[string]string{"zone": "b"}, Wait: protocol.Duration(10 * time.Millisecond)}},
				{"post results as B", poll, protocol.Poll{Running: []string{asg.ID}, Events: []protocol.RunEvent{end(t, asg, 1, journal.Held, "fake")}}},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					status, body := e.request("POST", tt.path, a.token, tt.body)
					if status != http.StatusForbidden || !strings.Contains(string(body), `is for agent \"web-a\", not \"web-b\"`) {
						t.Fatalf("%d %s, want 403 naming both agents", status, body)
					}
				})
			}

			after, err := e.st.Agent(t.Context(), victim.id)
			if err != nil {
				t.Fatal(err)
			}
			if !after.LastSeen.Equal(before.LastSeen) || !after.LeaseUntil.Equal(before.LeaseUntil) || after.Hostname != "web-b.test" {
				t.Errorf("agent B changed: %+v, was %+v", after, before)
			}
			e.do("GET", "/api/v1/runs/"+run.ID, e.viewer, nil, http.StatusOK, &v)
			if v.Status != store.RunPending || v.Assignments[0].State != store.AssignmentPending {
				t.Errorf("B's run was touched: %s, assignment %s", v.Status, v.Assignments[0].State)
			}
			entries, err := e.st.Audit(t.Context(), store.AuditFilter{Action: "agent.refused"})
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != len(tests) {
				t.Fatalf("%d refusals audited, want %d: %+v", len(entries), len(tests), entries)
			}
			for _, en := range entries {
				if !strings.HasPrefix(en.Actor, "agent web-a (tok-") || en.Object != "agent/web-b" || !strings.Contains(string(en.Details), `"tokenAgent":"web-a"`) {
					t.Errorf("audit entry %+v %s", en, en.Details)
				}
			}

			// B's own token still works, and gets its assignment.
			if reply, _ := victim.poll(protocol.Poll{}); len(reply.Assignments) != 1 || reply.Assignments[0].ID != asg.ID {
				t.Fatalf("B's own poll: %+v", reply)
			}
		})
	}
}

// Admin tokens may act as any agent; an agent token from before tokens
// were bound to agents acts as none.
func TestAgentTokenRoles(t *testing.T) {
	e := newEnv(t, envOptions{}).withTokens()
	secret, hash, err := auth.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.CreateToken(t.Context(), store.Token{ID: "tok-legacy", Name: "shared", Role: "agent", Hash: hash, CreatedBy: "test", Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, token, agent string
		status             int
		says               string
	}{
		{"its own agent", e.agent, "agent", http.StatusOK, ""},
		{"another agent", e.agent, "other", http.StatusForbidden, `is for agent \"agent\", not \"other\"`},
		{"admin as any agent", e.admin, "other", http.StatusOK, ""},
		{"unbound agent token", secret, "other", http.StatusForbidden, "issue one per agent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := e.request("POST", "/api/v1/agents/register", tt.token, protocol.Register{Name: tt.agent, Version: "test"})
			if status != tt.status || !strings.Contains(string(body), tt.says) {
				t.Fatalf("%d %s, want %d saying %q", status, body, tt.status, tt.says)
			}
		})
	}
}

// An agent token is issued for one agent; no other role names one.
func TestAgentTokenIssue(t *testing.T) {
	e := newEnv(t, envOptions{})
	tests := []struct {
		name   string
		req    tokenRequest
		status int
		says   string
	}{
		{"agent token for one agent", tokenRequest{Name: "db-1", Role: "agent", Agent: "db-1.zone-a"}, http.StatusCreated, ""},
		{"agent token for no agent", tokenRequest{Name: "fleet", Role: "agent"}, http.StatusBadRequest, "give agent"},
		{"agent name not printable", tokenRequest{Name: "x", Role: "agent", Agent: "db\n1"}, http.StatusBadRequest, "printable"},
		{"runner token for an agent", tokenRequest{Name: "ci", Role: "runner", Agent: "db-1"}, http.StatusBadRequest, "only agent tokens"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := e.request("POST", "/api/v1/tokens", e.admin, tt.req)
			if status != tt.status || !strings.Contains(string(body), tt.says) {
				t.Fatalf("%d %s, want %d saying %q", status, body, tt.status, tt.says)
			}
			if status == http.StatusCreated && !strings.Contains(string(body), `"agent": "db-1.zone-a"`) {
				t.Fatalf("the new token does not name its agent: %s", body)
			}
		})
	}
}

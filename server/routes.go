package server

import (
	"net/http"

	"github.com/faultline-dev/faultline/server/auth"
)

// routeTable is every endpoint of the API. Each is in openapi.json (a
// test checks it).
func (s *Server) routeTable() []route {
	viewer := func(method, pattern string, h func(http.ResponseWriter, *http.Request, *caller) error) route {
		return route{method: method, pattern: pattern, access: roleNeeded, role: auth.Viewer, h: h}
	}
	runner := func(method, pattern string, h func(http.ResponseWriter, *http.Request, *caller) error) route {
		return route{method: method, pattern: pattern, access: roleNeeded, role: auth.Runner, h: h}
	}
	admin := func(method, pattern string, h func(http.ResponseWriter, *http.Request, *caller) error) route {
		return route{method: method, pattern: pattern, access: roleNeeded, role: auth.Admin, h: h}
	}
	return []route{
		{method: "GET", pattern: "/api/openapi.json", access: public, h: serveOpenAPI},
		{method: "GET", pattern: "/api/v1/health", access: public, h: health},
		{method: "GET", pattern: "/api/v1/whoami", access: authenticated, h: s.whoami},

		viewer("GET", "/api/v1/experiments", s.listExperiments),
		runner("POST", "/api/v1/experiments", s.createExperiment),
		viewer("POST", "/api/v1/experiments/validate", s.validateExperiment),
		viewer("GET", "/api/v1/experiments/{name}", s.getExperiment),
		runner("PUT", "/api/v1/experiments/{name}", s.updateExperiment),
		admin("DELETE", "/api/v1/experiments/{name}", s.deleteExperiment),
		viewer("GET", "/api/v1/experiments/{name}/versions", s.listVersions),
		viewer("GET", "/api/v1/experiments/{name}/versions/{version}", s.getVersion),

		viewer("GET", "/api/v1/runs", s.listRuns),
		runner("POST", "/api/v1/runs", s.startRun),
		viewer("GET", "/api/v1/runs/{id}", s.getRun),
		viewer("GET", "/api/v1/runs/{id}/events", s.runEvents),
		runner("POST", "/api/v1/runs/{id}/halt", s.haltRun),
		viewer("GET", "/api/v1/runs/{id}/journal", s.runJournal),
		viewer("GET", "/api/v1/runs/{id}/report", s.runReport),
		runner("POST", "/api/v1/halt", s.haltAll),

		viewer("GET", "/api/v1/agents", s.listAgents),
		viewer("GET", "/api/v1/agents/{id}", s.getAgent),
		admin("PUT", "/api/v1/agents/{id}/labels", s.setAgentLabels),
		viewer("GET", "/api/v1/agents/{id}/faults", s.agentFaults),
		{method: "POST", pattern: "/api/v1/agents/register", access: roleNeeded, role: auth.Agent, h: s.register},
		{method: "POST", pattern: "/api/v1/agents/{id}/poll", access: roleNeeded, role: auth.Agent, limit: maxPollBody, h: s.poll},

		viewer("GET", "/api/v1/schedules", s.listSchedules),
		runner("POST", "/api/v1/schedules", s.createSchedule),
		viewer("GET", "/api/v1/schedules/{id}", s.getSchedule),
		runner("PUT", "/api/v1/schedules/{id}", s.updateSchedule),
		runner("DELETE", "/api/v1/schedules/{id}", s.deleteSchedule),

		viewer("GET", "/api/v1/audit", s.listAudit),

		admin("GET", "/api/v1/tokens", s.listTokens),
		admin("POST", "/api/v1/tokens", s.createToken),
		admin("DELETE", "/api/v1/tokens/{id}", s.revokeToken),

		admin("GET", "/api/v1/webhooks", s.listWebhooks),
		admin("POST", "/api/v1/webhooks", s.createWebhook),
		admin("DELETE", "/api/v1/webhooks/{id}", s.deleteWebhook),
	}
}

// pageTable is the dashboard (dashboard.go): its page and assets. They are
// public — the page asks for a token and sends it to the API — and are not
// API endpoints, so they are not in openapi.json.
func (s *Server) pageTable() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"GET /{$}":       serveDashboard,
		"GET /ui/{file}": serveDashboardAsset,
	}
}

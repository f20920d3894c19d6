package server

import (
	"context"
	"net/http"
	"time"

	"github.com/faultline-dev/faultline/server/auth"
	"github.com/faultline-dev/faultline/server/webhook"
	"github.com/faultline-dev/faultline/store"
)

func health(w http.ResponseWriter, _ *http.Request, _ *caller) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

func (s *Server) whoami(w http.ResponseWriter, _ *http.Request, c *caller) error {
	writeJSON(w, http.StatusOK, c.token)
	return nil
}

// tokenRequest creates a token; it expires after ExpiresIn when given.
// An agent token names the one agent it may act as.
type tokenRequest struct {
	Name      string `json:"name"`
	Role      string `json:"role"`
	Agent     string `json:"agent,omitempty"`
	ExpiresIn string `json:"expiresIn,omitempty"`
}

// newToken is the answer to a token's creation: the only time its secret
// is shown.
type newToken struct {
	store.Token
	Secret string `json:"secret"`
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request, c *caller) error {
	var req tokenRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Name == "" || len(req.Name) > 128 {
		return errorf(http.StatusBadRequest, "name the token (1 to 128 characters), such as ci-pipeline or agent-zone-a")
	}
	role, err := auth.ParseRole(req.Role)
	if err != nil {
		return errorf(http.StatusBadRequest, "%v", err)
	}
	switch {
	case role == auth.Agent && req.Agent == "":
		return errorf(http.StatusBadRequest, "an agent token is issued for one agent: give agent, the name that agent registers with (its --name, default its hostname)")
	case role == auth.Agent && !validAgentName(req.Agent):
		return errorf(http.StatusBadRequest, "agent %q: an agent name is 1 to 253 printable characters", req.Agent)
	case role != auth.Agent && req.Agent != "":
		return errorf(http.StatusBadRequest, "only agent tokens are bound to an agent: drop agent, or make the role agent")
	}
	now := utcNow()
	tok := store.Token{ID: newID("tok"), Name: req.Name, Role: string(role), Agent: req.Agent, CreatedBy: c.actor(), Created: now}
	if req.ExpiresIn != "" {
		d, err := time.ParseDuration(req.ExpiresIn)
		if err != nil || d <= 0 {
			return errorf(http.StatusBadRequest, "expiresIn %q: give a positive duration such as 720h", req.ExpiresIn)
		}
		tok.Expires = now.Add(d)
	}
	secret, hash, err := auth.NewToken()
	if err != nil {
		return err
	}
	tok.Hash = hash
	err = s.change(r.Context(), c, "token.create", "token/"+tok.ID, func(tx store.Store) (any, error) {
		return map[string]any{"name": tok.Name, "role": tok.Role, "agent": tok.Agent, "expires": tok.Expires}, tx.CreateToken(r.Context(), tok)
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, newToken{Token: tok, Secret: secret})
	return nil
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request, _ *caller) error {
	list, err := s.st.Tokens(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request, c *caller) error {
	id := r.PathValue("id")
	err := s.change(r.Context(), c, "token.revoke", "token/"+id, func(tx store.Store) (any, error) {
		return nil, tx.RevokeToken(r.Context(), id, utcNow())
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// webhookRequest subscribes a URL to run events (none listed: all).
type webhookRequest struct {
	URL    string   `json:"url"`
	Events []string `json:"events,omitempty"`
}

func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request, c *caller) error {
	var req webhookRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := webhook.CheckURL(req.URL); err != nil {
		return errorf(http.StatusBadRequest, "%v", err)
	}
	if err := webhook.CheckKinds(req.Events); err != nil {
		return errorf(http.StatusBadRequest, "%v", err)
	}
	wh := store.Webhook{ID: newID("wh"), URL: req.URL, Events: req.Events, CreatedBy: c.actor(), Created: utcNow()}
	if wh.Events == nil {
		wh.Events = []string{}
	}
	err := s.change(r.Context(), c, "webhook.create", "webhook/"+wh.ID, func(tx store.Store) (any, error) {
		return map[string]any{"events": wh.Events}, tx.CreateWebhook(r.Context(), wh)
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, wh)
	return nil
}

func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request, _ *caller) error {
	list, err := s.st.Webhooks(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}

func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request, c *caller) error {
	id := r.PathValue("id")
	err := s.change(r.Context(), c, "webhook.delete", "webhook/"+id, func(tx store.Store) (any, error) {
		return nil, tx.DeleteWebhook(r.Context(), id)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// webhookTargets are the webhooks configured through the API.
func (s *Server) webhookTargets(ctx context.Context) ([]webhook.Target, error) {
	list, err := s.st.Webhooks(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]webhook.Target, len(list))
	for i, w := range list {
		out[i] = webhook.Target{URL: w.URL, Events: w.Events}
	}
	return out, nil
}

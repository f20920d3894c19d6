package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/faultline-dev/faultline/agent/protocol"
)

// maxReply bounds what the agent reads of one answer (assignments carry
// whole experiment documents, which are small).
const maxReply = 16 << 20

// client speaks the agent side of the protocol to one server.
type client struct {
	base      *url.URL
	token     string
	userAgent string
	hc        *http.Client
}

// httpError is an answer other than 200 OK.
type httpError struct {
	Status int
	Msg    string
}

func (e *httpError) Error() string {
	if e.Msg == "" {
		return fmt.Sprintf("server answered %d %s", e.Status, http.StatusText(e.Status))
	}
	return fmt.Sprintf("server answered %d %s: %s", e.Status, http.StatusText(e.Status), e.Msg)
}

// isStatus reports whether err is an answer with status code.
func isStatus(err error, code int) bool {
	var he *httpError
	return errors.As(err, &he) && he.Status == code
}

func (c *client) register(ctx context.Context, r protocol.Register) (protocol.Registered, error) {
	var out protocol.Registered
	if err := c.post(ctx, "/api/v1/agents/register", r, &out); err != nil {
		return out, fmt.Errorf("register with %s: %w", c.base.Redacted(), err)
	}
	if out.AgentID == "" {
		return out, fmt.Errorf("register with %s: the answer has no agentId", c.base.Redacted())
	}
	return out, nil
}

func (c *client) poll(ctx context.Context, agentID string, p protocol.Poll) (protocol.PollReply, error) {
	var out protocol.PollReply
	if err := c.post(ctx, "/api/v1/agents/"+url.PathEscape(agentID)+"/poll", p, &out); err != nil {
		return out, fmt.Errorf("poll %s: %w", c.base.Redacted(), err)
	}
	return out, nil
}

func (c *client) post(ctx context.Context, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("encode request: %w", err)
	}
	u := c.base.JoinPath(path)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("User-Agent", c.userAgent)
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return &httpError{Status: resp.StatusCode, Msg: strings.TrimSpace(string(msg))}
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxReply)).Decode(out); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	return nil
}

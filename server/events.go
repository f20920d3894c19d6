package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/faultline-dev/faultline/store"
)

// keepAlive is how often an idle event stream gets a comment line, so
// proxies keep it open.
const keepAlive = 15 * time.Second

// eventNameRE is what an event's type must look like to name a
// server-sent event (agents send the types; no newline gets through).
var eventNameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)

// streamEvent is the data of one server-sent event.
type streamEvent struct {
	ID       int64           `json:"id"`
	Agent    string          `json:"agent,omitempty"`
	Seq      int64           `json:"seq"`
	Received time.Time       `json:"received"`
	Event    json.RawMessage `json:"event"`
}

// runEvents streams a run's events as server-sent events — every stored
// one, then new ones as they come — and ends with an "end" event once the
// run has ended and everything was sent. Each event's id is its store id:
// a client that reconnects with Last-Event-ID (or ?after=) resumes after
// it. The event name is the journal event's type ("injected",
// "check-failed", "verdict", …) or "sample".
func (s *Server) runEvents(w http.ResponseWriter, r *http.Request, _ *caller) error {
	ctx := r.Context()
	id := r.PathValue("id")
	if _, err := s.st.Run(ctx, id); err != nil {
		return err
	}
	var after int64
	for _, v := range []string{r.Header.Get("Last-Event-ID"), r.URL.Query().Get("after")} {
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return errorf(http.StatusBadRequest, "event id %q: give the id of the last event received", v)
		}
		after = n
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 2000\n\n")
	_ = rc.Flush()
	for {
		news := s.hub.run(id)
		run, err := s.st.Run(ctx, id)
		if err != nil {
			return nil // the answer has started; the client sees the stream end
		}
		ended := !run.Status.Active()
		for {
			evs, err := s.st.RunEvents(ctx, id, after, 500)
			if err != nil {
				return nil
			}
			for _, e := range evs {
				after = e.ID
				if err := writeEvent(w, e); err != nil {
					return nil
				}
			}
			if len(evs) < 500 {
				break
			}
		}
		if ended {
			b, _ := json.Marshal(map[string]string{"status": string(run.Status), "reason": run.Reason})
			fmt.Fprintf(w, "event: end\ndata: %s\n\n", b)
			_ = rc.Flush()
			return nil
		}
		if err := rc.Flush(); err != nil {
			return nil
		}
		t := time.NewTimer(keepAlive)
		select {
		case <-news:
		case <-t.C:
			fmt.Fprint(w, ": keep-alive\n\n")
		case <-s.closing:
			t.Stop()
			return nil
		case <-ctx.Done():
			t.Stop()
			return nil
		}
		t.Stop()
	}
}

func writeEvent(w http.ResponseWriter, e store.RunEvent) error {
	var head struct {
		Type string `json:"type"`
	}
	name := "event"
	if json.Unmarshal(e.Event, &head) == nil && eventNameRE.MatchString(head.Type) {
		name = head.Type
	}
	b, err := json.Marshal(streamEvent{ID: e.ID, Agent: e.Agent, Seq: e.Seq, Received: e.Received, Event: e.Event})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", e.ID, name, b)
	return err
}

package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/faultline-dev/faultline/store"
)

// change runs fn and writes its audit entry in one transaction: both
// happen or neither. fn returns the entry's details.
func (s *Server) change(ctx context.Context, c *caller, action, object string, fn func(tx store.Store) (details any, err error)) error {
	return s.st.Update(ctx, func(tx store.Store) error {
		details, err := fn(tx)
		if err != nil {
			return err
		}
		return audit(ctx, tx, c.actor(), action, object, details)
	})
}

func audit(ctx context.Context, tx store.Store, actor, action, object string, details any) error {
	var raw json.RawMessage
	if details != nil {
		b, err := json.Marshal(details)
		if err != nil {
			return fmt.Errorf("audit %s: %w", action, err)
		}
		raw = b
	}
	return tx.AddAudit(ctx, store.AuditEntry{Actor: actor, Action: action, Object: object, Details: raw})
}

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request, _ *caller) error {
	q := r.URL.Query()
	f := store.AuditFilter{Actor: q.Get("actor"), Action: q.Get("action")}
	if since := q.Get("since"); since != "" {
		t, err := parseSince(since, time.Now())
		if err != nil {
			return err
		}
		f.Since = t
	}
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return errorf(http.StatusBadRequest, "before %q: give an audit entry id", v)
		}
		f.Before = n
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 1000 {
			return errorf(http.StatusBadRequest, "limit %q: give a number from 1 to 1000", l)
		}
		f.Limit = n
	}
	list, err := s.st.Audit(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}

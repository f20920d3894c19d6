package server

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/faultline-dev/faultline/experiment"
	"github.com/faultline-dev/faultline/store"
)

// documentRequest carries an experiment document (YAML or JSON text).
type documentRequest struct {
	Document string `json:"document"`
}

// validationResult is the answer of validate: the positioned errors of
// the document, if any.
type validationResult struct {
	Valid  bool                `json:"valid"`
	Name   string              `json:"name,omitempty"`
	Errors []*experiment.Error `json:"errors"`
}

// parse validates a document against the server's fault and probe kinds.
func (s *Server) parse(doc string) (*experiment.Experiment, validationResult) {
	x, err := experiment.Parse([]byte(doc), "", s.cfg.Catalog)
	if err == nil {
		return x, validationResult{Valid: true, Name: x.Metadata.Name, Errors: []*experiment.Error{}}
	}
	var errs experiment.Errors
	if !errors.As(err, &errs) {
		errs = experiment.Errors{{Msg: err.Error()}}
	}
	return nil, validationResult{Errors: errs}
}

// readDocument decodes a documentRequest and validates its document; an
// invalid one is a 422 with the positioned errors.
func (s *Server) readDocument(r *http.Request) (*experiment.Experiment, string, error) {
	var req documentRequest
	if err := decode(r, &req); err != nil {
		return nil, "", err
	}
	if req.Document == "" {
		return nil, "", errorf(http.StatusBadRequest, "document is empty: send {\"document\": \"<the experiment as YAML or JSON>\"}")
	}
	x, res := s.parse(req.Document)
	if !res.Valid {
		return nil, "", &apiError{Status: http.StatusUnprocessableEntity, Message: "the document is not a valid experiment", Errors: res.Errors}
	}
	return x, req.Document, nil
}

func (s *Server) listExperiments(w http.ResponseWriter, r *http.Request, _ *caller) error {
	list, err := s.st.Experiments(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}

func (s *Server) validateExperiment(w http.ResponseWriter, r *http.Request, _ *caller) error {
	var req documentRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	_, res := s.parse(req.Document)
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (s *Server) createExperiment(w http.ResponseWriter, r *http.Request, c *caller) error {
	x, doc, err := s.readDocument(r)
	if err != nil {
		return err
	}
	name := x.Metadata.Name
	var v store.ExperimentVersion
	err = s.change(r.Context(), c, "experiment.create", "experiment/"+name, func(tx store.Store) (any, error) {
		var err error
		v, err = tx.CreateExperiment(r.Context(), name, doc, c.actor())
		return map[string]int{"version": 1}, err
	})
	if errors.Is(err, store.ErrExists) {
		return errorf(http.StatusConflict, "experiment %q exists: PUT /api/v1/experiments/%s saves a new version", name, name)
	}
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/experiments/"+name)
	writeJSON(w, http.StatusCreated, v)
	return nil
}

func (s *Server) updateExperiment(w http.ResponseWriter, r *http.Request, c *caller) error {
	name := r.PathValue("name")
	x, doc, err := s.readDocument(r)
	if err != nil {
		return err
	}
	if x.Metadata.Name != name {
		return errorf(http.StatusBadRequest, "the document is named %q, not %q: renaming makes a new experiment (POST /api/v1/experiments)", x.Metadata.Name, name)
	}
	var v store.ExperimentVersion
	err = s.change(r.Context(), c, "experiment.update", "experiment/"+name, func(tx store.Store) (any, error) {
		var err error
		v, err = tx.AddExperimentVersion(r.Context(), name, doc, c.actor())
		return map[string]int{"version": v.Version}, err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// experimentView is an experiment with its current document.
type experimentView struct {
	store.Experiment
	Document string `json:"document"`
}

func (s *Server) getExperiment(w http.ResponseWriter, r *http.Request, _ *caller) error {
	name := r.PathValue("name")
	e, err := s.st.Experiment(r.Context(), name)
	if err != nil {
		return err
	}
	v, err := s.st.ExperimentVersion(r.Context(), name, e.CurrentVersion)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, experimentView{Experiment: e, Document: v.Document})
	return nil
}

func (s *Server) deleteExperiment(w http.ResponseWriter, r *http.Request, c *caller) error {
	name := r.PathValue("name")
	err := s.change(r.Context(), c, "experiment.delete", "experiment/"+name, func(tx store.Store) (any, error) {
		return nil, tx.DeleteExperiment(r.Context(), name)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listVersions(w http.ResponseWriter, r *http.Request, _ *caller) error {
	vs, err := s.st.ExperimentVersions(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, vs)
	return nil
}

func (s *Server) getVersion(w http.ResponseWriter, r *http.Request, _ *caller) error {
	n, err := strconv.Atoi(r.PathValue("version"))
	if err != nil || n < 1 {
		return errorf(http.StatusNotFound, "no such version %q: versions are numbered from 1", r.PathValue("version"))
	}
	v, err := s.st.ExperimentVersion(r.Context(), r.PathValue("name"), n)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

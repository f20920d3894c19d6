package proxy

import (
	"errors"
	"fmt"
	"net/http"
)

// apiError is an error the API answers with a status other than 500. Its
// message is Toxiproxy's where Toxiproxy has one, since clients show them.
type apiError struct {
	msg    string
	status int
}

func (e *apiError) Error() string { return e.msg }

var (
	errProxyNotFound      = &apiError{"proxy not found", http.StatusNotFound}
	errProxyAlreadyExists = &apiError{"proxy already exists", http.StatusConflict}
	errToxicNotFound      = &apiError{"toxic not found", http.StatusNotFound}
	errToxicAlreadyExists = &apiError{"toxic already exists", http.StatusConflict}
	errInvalidToxicType   = &apiError{"invalid toxic type", http.StatusBadRequest}
	errInvalidStream      = &apiError{"stream was invalid, can be either upstream, downstream or both", http.StatusBadRequest}
)

// badInput is a 400 answer.
func badInput(format string, args ...any) error {
	return &apiError{fmt.Sprintf(format, args...), http.StatusBadRequest}
}

// badBody is Toxiproxy's answer to a body it cannot decode.
func badBody(err error) error { return badInput("bad request body: %v", err) }

// missingField is Toxiproxy's answer to a proxy without a name or upstream.
func missingField(what string) error { return badInput("missing required field: %s", what) }

// statusOf is the HTTP status the API answers err with.
func statusOf(err error) int {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.status
	}
	return http.StatusInternalServerError
}

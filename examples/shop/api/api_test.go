package api_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/examples/shop/api"
)

func TestRead(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       string // "" if valid
	}{
		{"valid", `{"itemId":"sock-1","quantity":2}`, ""},
		{"an unknown field", `{"itemId":"sock-1","colour":"red"}`, "unknown field"},
		{"two values", `{"itemId":"a"} {"itemId":"b"}`, "more than one JSON value"},
		{"not JSON", `itemId=a`, "bad request body"},
		{"empty", ``, "EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var l api.Line
			err := api.Read(httptest.NewRequest("POST", "/", strings.NewReader(tc.body)), &l)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Read(%q) = %v, want %q", tc.body, err, tc.want)
			}
		})
	}
}

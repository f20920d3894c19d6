package auth

import (
	"strings"
	"testing"
)

func TestAllows(t *testing.T) {
	roles := []Role{Viewer, Runner, Admin, Agent}
	// want[r][need]
	want := map[Role]map[Role]bool{
		Viewer: {Viewer: true, Runner: false, Admin: false, Agent: false},
		Runner: {Viewer: true, Runner: true, Admin: false, Agent: false},
		Admin:  {Viewer: true, Runner: true, Admin: true, Agent: true},
		Agent:  {Viewer: false, Runner: false, Admin: false, Agent: true},
	}
	for _, r := range roles {
		for _, need := range roles {
			if got := r.Allows(need); got != want[r][need] {
				t.Errorf("%s allows %s: %v, want %v", r, need, got, want[r][need])
			}
		}
	}
	if Role("").Allows(Viewer) || Role("root").Allows(Viewer) {
		t.Error("an unknown role allows something")
	}
}

func TestParseRole(t *testing.T) {
	for _, s := range []string{"viewer", "runner", "admin", "agent"} {
		if r, err := ParseRole(s); err != nil || string(r) != s {
			t.Errorf("%s: %v %v", s, r, err)
		}
	}
	for _, s := range []string{"", "Admin", "root"} {
		if _, err := ParseRole(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

func TestNewToken(t *testing.T) {
	a, ha, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	b, hb, _ := NewToken()
	if a == b || ha == hb {
		t.Fatal("two tokens alike")
	}
	if !strings.HasPrefix(a, "fl_") || len(a) != 3+43 || Hash(a) != ha || len(ha) != 64 || strings.Contains(ha, a) {
		t.Fatalf("token %q hash %q", a, ha)
	}
}

func TestBearer(t *testing.T) {
	tests := map[string]string{
		"Bearer fl_abc":  "fl_abc",
		"bearer  fl_abc": "fl_abc",
		"Basic dXNlcjpw": "",
		"fl_abc":         "",
		"":               "",
	}
	for h, want := range tests {
		if got := Bearer(h); got != want {
			t.Errorf("%q: %q, want %q", h, got, want)
		}
	}
}

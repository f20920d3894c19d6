// Package auth is the control plane's API tokens and roles. A token is a
// random secret shown once; the store keeps only its SHA-256 (the secret
// has 256 bits of entropy, so a fast hash is safe and lets the server find
// a token by its hash). Roles are ordered viewer < runner < admin; the
// agent role is apart: it may only speak the agent protocol, as the one
// agent name its token was issued for (the server checks the name), while
// admins may speak it as any agent.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// Role is what a token may do.
type Role string

// The roles.
const (
	// Viewer reads everything but tokens and webhooks.
	Viewer Role = "viewer"
	// Runner also writes experiments and schedules, starts and halts runs,
	// and presses halt-all.
	Runner Role = "runner"
	// Admin also manages tokens, webhooks, agents' labels and deletions.
	Admin Role = "admin"
	// Agent registers and polls as the host agent its token names,
	// nothing else.
	Agent Role = "agent"
)

var rank = map[Role]int{Viewer: 1, Runner: 2, Admin: 3}

// ParseRole reads a role name.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if _, ok := rank[r]; ok || r == Agent {
		return r, nil
	}
	return "", fmt.Errorf("unknown role %q: use viewer, runner, admin or agent", s)
}

// Allows reports whether a token with role r may do what needs role need.
func (r Role) Allows(need Role) bool {
	if need == Agent {
		return r == Agent || r == Admin
	}
	return r != Agent && rank[r] >= rank[need]
}

// prefix marks faultline tokens, so secret scanners and people recognise
// them.
const prefix = "fl_"

// NewToken makes a new secret and its hash.
func NewToken() (secret, hash string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("make token: %w", err)
	}
	secret = prefix + base64.RawURLEncoding.EncodeToString(b)
	return secret, Hash(secret), nil
}

// Hash is the hex SHA-256 of a secret, as stored.
func Hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// Bearer extracts the token from an Authorization header value, or "".
func Bearer(header string) string {
	scheme, tok, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

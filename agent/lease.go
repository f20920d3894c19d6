package agent

import "time"

// leaseDeadline is when an agent that last reached the server at contact
// (the time it sent the request the server answered) must have halted its
// runs: the lease less the grace — so faults are recovered by the time the
// server counts the lease as run out — but never sooner than half the
// lease, whatever grace is set to. A zero lease is no lease: never.
func leaseDeadline(contact time.Time, lease, grace time.Duration) time.Time {
	if lease <= 0 {
		return time.Time{}
	}
	return contact.Add(max(lease-max(grace, 0), lease/2))
}

// leaseExpired reports whether, at now, the lease granted at contact has
// run out: the dead man's switch decision.
func leaseExpired(now, contact time.Time, lease, grace time.Duration) bool {
	dl := leaseDeadline(contact, lease, grace)
	return !dl.IsZero() && !now.Before(dl)
}

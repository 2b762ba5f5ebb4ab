package enforcer

import (
	"context"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/awsaudit/awsaudit/internal/awsapi"
)

// GetUserAPI is the part of the IAM API the user checks call.
type GetUserAPI interface {
	GetUser(ctx context.Context, in *iam.GetUserInput, optFns ...func(*iam.Options)) (*iam.GetUserOutput, error)
}

// Users looks up IAM users, once per distinct name for as long as an answer is kept: GetUser's
// NoSuchEntity means the user does not exist; any other error leaves the name unchecked, so an
// instance depending on it is unknown and never acted on. It is safe for concurrent use, and
// concurrent lookups of one name make one call. A sweep builds one per run (ttl 0); the event
// path keeps one with a ttl, which never keeps a failed lookup.
type Users struct {
	api GetUserAPI
	// ttl is how long an answer is kept; zero keeps it for the life of the cache (one sweep).
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	entries map[string]*userEntry
}

type userEntry struct {
	done   chan struct{}
	result UserLookup
	err    error
	at     time.Time
}

// NewUsers returns a cache of lookups through api. now is the clock the ttl runs on.
func NewUsers(api GetUserAPI, ttl time.Duration, now func() time.Time) *Users {
	return &Users{api: api, ttl: ttl, now: now, entries: map[string]*userEntry{}}
}

// Facts looks up names and returns them as decision facts, with the first lookup error other
// than NoSuchEntity (the affected names stay unchecked).
func (u *Users) Facts(ctx context.Context, names []string) (*Facts, error) {
	f := &Facts{Users: make(map[string]UserLookup, len(names))}
	var firstErr error
	for _, n := range names {
		r, err := u.lookup(ctx, n)
		f.Users[n] = r
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return f, firstErr
}

func (u *Users) lookup(ctx context.Context, name string) (UserLookup, error) {
	u.mu.Lock()
	e, ok := u.entries[name]
	if ok && u.ttl > 0 && u.isDone(e) && u.now().Sub(e.at) > u.ttl {
		ok = false
	}
	if ok {
		u.mu.Unlock()
		select {
		case <-e.done:
			return e.result, e.err
		case <-ctx.Done():
			return UserUnchecked, ctx.Err()
		}
	}
	e = &userEntry{done: make(chan struct{})}
	u.entries[name] = e
	u.mu.Unlock()

	// done is closed whatever happens, a panic included, so no waiter is left blocked.
	defer close(e.done)
	_, err := u.api.GetUser(ctx, &iam.GetUserInput{UserName: aws.String(name)})
	switch {
	case err == nil:
		e.result = UserExists
	case awsapi.IsNotFound(err):
		e.result = UserNotFound
	default:
		e.result, e.err = UserUnchecked, err
	}
	e.at = u.now()
	// A failed lookup is kept only by a one-run cache (ttl 0: one GetUser per name per sweep,
	// even while IAM throttles); a long-lived cache asks again next time.
	if e.err != nil && (u.ttl > 0 || awsapi.Classify(e.err) == awsapi.Canceled) {
		u.mu.Lock()
		if u.entries[name] == e {
			delete(u.entries, name)
		}
		u.mu.Unlock()
	}
	return e.result, e.err
}

func (u *Users) isDone(e *userEntry) bool {
	select {
	case <-e.done:
		return true
	default:
		return false
	}
}

package enforcer

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
)

// fakeIAM answers GetUser from a set of users, failing with err when set, and counts calls.
type fakeIAM struct {
	mu    sync.Mutex
	users map[string]bool
	err   error
	calls map[string]int
}

func (f *fakeIAM) GetUser(_ context.Context, in *iam.GetUserInput, _ ...func(*iam.Options)) (*iam.GetUserOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	name := aws.ToString(in.UserName)
	f.calls[name]++
	if f.err != nil {
		return nil, f.err
	}
	if !f.users[name] {
		return nil, apiErr("NoSuchEntity")
	}
	return &iam.GetUserOutput{}, nil
}

func TestUsers(t *testing.T) {
	ctx := context.Background()
	clock := now
	tick := func() time.Time { return clock }

	t.Run("one call per name per run", func(t *testing.T) {
		f := &fakeIAM{users: map[string]bool{"bob": true}, calls: map[string]int{}}
		u := NewUsers(f, 0, tick)
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				facts, err := u.Facts(ctx, []string{"bob", "mallory"})
				if err != nil || facts.Users["bob"] != UserExists || facts.Users["mallory"] != UserNotFound {
					t.Errorf("facts %v, %v", facts, err)
				}
			}()
		}
		wg.Wait()
		if f.calls["bob"] != 1 || f.calls["mallory"] != 1 {
			t.Fatalf("calls %v", f.calls)
		}
	})

	t.Run("a run keeps a failed lookup; a long-lived cache does not", func(t *testing.T) {
		f := &fakeIAM{calls: map[string]int{}, err: apiErr("Throttling")}
		run := NewUsers(f, 0, tick)
		long := NewUsers(f, time.Hour, tick)
		for range 3 {
			if facts, err := run.Facts(ctx, []string{"bob"}); err == nil || facts.Users["bob"] != UserUnchecked {
				t.Fatalf("facts %v, %v", facts, err)
			}
			long.Facts(ctx, []string{"alice"})
		}
		if f.calls["bob"] != 1 || f.calls["alice"] != 3 {
			t.Fatalf("calls %v: the run should ask once, the long-lived cache every time", f.calls)
		}
	})

	t.Run("answers expire after the ttl", func(t *testing.T) {
		f := &fakeIAM{users: map[string]bool{}, calls: map[string]int{}}
		u := NewUsers(f, time.Minute, tick)
		if facts, _ := u.Facts(ctx, []string{"new"}); facts.Users["new"] != UserNotFound {
			t.Fatal("want not found")
		}
		f.users["new"] = true
		if facts, _ := u.Facts(ctx, []string{"new"}); facts.Users["new"] != UserNotFound {
			t.Fatal("the answer was not kept within its ttl")
		}
		clock = clock.Add(2 * time.Minute)
		if facts, _ := u.Facts(ctx, []string{"new"}); facts.Users["new"] != UserExists {
			t.Fatal("the answer was kept beyond its ttl")
		}
	})
}

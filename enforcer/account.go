package enforcer

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/awsaudit/awsaudit/internal/awsapi"
	"github.com/awsaudit/awsaudit/internal/logkey"
)

// IdentityAPI is the STS call that names the account.
type IdentityAPI interface {
	GetCallerIdentity(ctx context.Context, in *sts.GetCallerIdentityInput, optFns ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
}

// AliasAPI is the IAM call that gives the account its human name.
type AliasAPI interface {
	ListAccountAliases(ctx context.Context, in *iam.ListAccountAliasesInput, optFns ...func(*iam.Options)) (*iam.ListAccountAliasesOutput, error)
}

// Account is the account awsaudit runs in.
type Account struct {
	ID    string
	Alias string
}

// Name is the alias, or the id when the account has none (the documents' account field).
func (a Account) Name() string {
	if a.Alias != "" {
		return a.Alias
	}
	return a.ID
}

// Allowed reports whether the policy's allow-list lets this account be acted on: no list, or
// one naming the account's id or alias.
func (a Account) Allowed(p *Policy) bool {
	return len(p.Accounts) == 0 || slices.Contains(p.Accounts, a.ID) || (a.Alias != "" && slices.Contains(p.Accounts, a.Alias))
}

// AccountCache looks the account up once (STS, then IAM for the alias) and keeps the answer;
// a failed lookup is not kept, so the next call tries again. A missing alias, or one IAM refuses
// to give, is not an error: the id stands in. It is safe for concurrent use.
type AccountCache struct {
	STS IdentityAPI
	IAM AliasAPI
	Log *slog.Logger

	mu  sync.Mutex
	got *Account
}

// Get returns the account.
func (c *AccountCache) Get(ctx context.Context) (Account, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.got != nil {
		return *c.got, nil
	}
	out, err := c.STS.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return Account{}, fmt.Errorf("identifying the account: %w", err)
	}
	a := Account{ID: aws.ToString(out.Account)}
	al, err := c.IAM.ListAccountAliases(ctx, &iam.ListAccountAliasesInput{})
	switch {
	case err != nil && awsapi.IsTransient(err):
		// An allow-list may name the alias: try again later rather than decide without it.
		return Account{}, fmt.Errorf("reading the account alias: %w", err)
	case err != nil:
		c.Log.WarnContext(ctx, "cannot read the account alias; using the account id", logkey.AccountID, a.ID, logkey.Error, err.Error())
	case len(al.AccountAliases) > 0:
		a.Alias = al.AccountAliases[0]
	}
	c.got = &a
	return a, nil
}

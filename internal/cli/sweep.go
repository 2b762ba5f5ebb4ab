package cli

import (
	"context"
	"fmt"

	"github.com/awsaudit/awsaudit/enforcer"
	"github.com/awsaudit/awsaudit/internal/logkey"
	"github.com/awsaudit/awsaudit/reconciler"
)

func runSweep(ctx context.Context, args []string, env Env) int {
	fs, help := newFlagSet("awsaudit sweep", "awsaudit [sweep] [-r REGIONS] [-t TAGS] [-g MINUTES] [-k] [-c] [--policy FILE] [flags]", env)
	var (
		pf          policyFlags
		of          outputFlags
		af          awsFlags
		concurrency int
	)
	pf.register(fs)
	of.register(fs)
	of.registerReport(fs)
	af.register(fs)
	fs.IntVar(&concurrency, "concurrency", 4, "regions listed at once")
	if code, done := parse(fs, help, args, env); done {
		return code
	}
	set := setFlags(fs)

	// Everything the user gave is checked before any AWS call.
	policy, err := pf.policy(set)
	if err != nil {
		return refuse(env.Stderr, err)
	}
	if (af.accessKey == "") != (af.secretKey == "") {
		return refuse(env.Stderr, fmt.Errorf("-a/--aws_access_key and -s/--aws_secret_key go together"))
	}
	if concurrency < 1 {
		return refuse(env.Stderr, fmt.Errorf("--concurrency: %d is not 1 or more", concurrency))
	}
	format, err := outputFormat(of.output, env)
	if err != nil {
		return refuse(env.Stderr, err)
	}
	sess, code := openSession(ctx, env, &of, &af)
	if code != ExitOK {
		return code
	}
	defer sess.close()
	log, sinks, counter, clients, es := sess.log, sess.sinks, sess.counter, sess.clients, sess.es
	sw := &reconciler.Sweeper{
		Policy:      policy,
		EC2:         func(region string) reconciler.RegionAPI { return clients.EC2(region) },
		HomeRegion:  clients.HomeRegion(),
		Account:     &enforcer.AccountCache{STS: clients.STS(), IAM: clients.IAM(), Log: log},
		IAM:         clients.IAM(),
		Sink:        sinks.sink,
		Indices:     es.Indices,
		Now:         env.Now,
		Log:         log,
		DryRun:      pf.dryRun,
		Concurrency: concurrency,
	}
	log.Info("sweep starting", logkey.Policy, policy, logkey.DryRun, pf.dryRun)
	rep, err := sw.Run(ctx)
	var out outcome
	if err != nil {
		out.add(ExitError, "%v", err)
		return out.print(env.Stderr)
	}
	report := env.Stdout
	if of.ndjson == "-" {
		report = env.Stderr // stdout carries the documents
	}
	if err := printReport(report, format, rep, counter); err != nil {
		out.add(ExitError, "printing the results: %v", err)
	}
	sinks.describe(env.Stderr, len(rep.Documents), rep.WriteErr)
	if rep.WriteErr != nil {
		sinks.spool(env.Stderr, rep.RunID, rep.Documents, rep.WriteErr, &out, of.spoolDir)
	}
	if rep.ActionFailures > 0 {
		out.add(ExitFailed, "%d action(s) failed; see the documents' error field", rep.ActionFailures)
	}
	if rep.NotActed > 0 {
		out.add(ExitError, "%d violator(s) not acted on: the run was stopped before their region's turn", rep.NotActed)
	}
	if rep.Deferred > 0 {
		fmt.Fprintf(env.Stderr, "awsaudit: WARNING: the action limit (%d) deferred %d violator(s) to a later run\n", rep.Limit, rep.Deferred)
	}
	for _, r := range rep.Rollup.RegionsUnverified {
		out.add(ExitUnverified, "region %s unverified, nothing in it acted on: %s", r, rep.Unverified[r])
	}
	for _, r := range rep.Rollup.RegionsUnreached {
		out.add(ExitUnverified, "region %s not reached: %s", r, rep.Unreached[r])
	}
	return out.print(env.Stderr)
}

// outputFormat picks table or json.
func outputFormat(flag string, env Env) (string, error) {
	switch flag {
	case "table", "json":
		return flag, nil
	case "":
		if env.StdoutIsTerminal {
			return "table", nil
		}
		return "json", nil
	}
	return "", fmt.Errorf("--output: %q is not table or json", flag)
}

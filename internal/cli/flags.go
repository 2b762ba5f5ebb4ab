package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/awsaudit/awsaudit/enforcer"
	"github.com/awsaudit/awsaudit/internal/config"
	"github.com/awsaudit/awsaudit/internal/document"
)

// policyFlags are the flags that build the policy: the original tool's, and the new ones. Flags
// override the policy file.
type policyFlags struct {
	policyFile string
	regions    string
	tags       string
	grace      string
	terminate  bool
	confirm    bool
	action     string
	dryRun     bool
	maxActions string
	maxPercent string
	accounts   string
}

func (f *policyFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.policyFile, "policy", "", "policy file, YAML or JSON (flags override it)")
	str(fs, &f.regions, "r", "regions", "comma-separated regions to audit (default: the account's enabled regions)")
	str(fs, &f.tags, "t", "tags", "comma-separated required tag keys, such as created_by,department,project")
	str(fs, &f.grace, "g", "grace", "grace period: minutes (as in the original) or a duration such as 90m (default 5)")
	boolean(fs, &f.terminate, "k", "terminate", "terminate violators (same as --action terminate)")
	boolean(fs, &f.confirm, "c", "confirm", "the created_by tag must name an existing IAM user")
	fs.StringVar(&f.action, "action", "", "report, stop or terminate (default report: nothing is changed)")
	fs.BoolVar(&f.dryRun, "dry-run", false, "record what stop or terminate would do (outcome dry_run) and change nothing")
	fs.StringVar(&f.maxActions, "max-actions", "", "act on at most N violators per run, oldest first (recommended)")
	fs.StringVar(&f.maxPercent, "max-actions-percent", "", "act on at most P% of the instances listed per sweep (recommended)")
	fs.StringVar(&f.accounts, "accounts", "", "comma-separated account ids or aliases that may be acted on (default: any)")
}

// str registers a string flag under a short and a long name.
func str(fs *flag.FlagSet, p *string, short, long, usage string) {
	fs.StringVar(p, short, "", usage)
	fs.StringVar(p, long, "", usage)
}

func boolean(fs *flag.FlagSet, p *bool, short, long, usage string) {
	fs.BoolVar(p, short, false, usage)
	fs.BoolVar(p, long, false, usage)
}

// setFlags returns the names of the flags given on the command line.
func setFlags(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// policy builds and validates the policy: the file, then the flags over it. Every problem is
// returned, joined, before any AWS call.
func (f *policyFlags) policy(set map[string]bool) (*enforcer.Policy, error) {
	p := enforcer.New()
	if f.policyFile != "" {
		var err error
		if p, err = enforcer.LoadPolicyFile(f.policyFile); err != nil {
			return nil, err
		}
	}
	var errs []error
	if set["t"] || set["tags"] {
		keys, err := enforcer.ParseKeys(f.tags)
		if err != nil {
			errs = append(errs, err)
		}
		p.Tags = nil
		for _, k := range keys {
			p.Tags = append(p.Tags, enforcer.TagRule{Key: k})
		}
	}
	if set["g"] || set["grace"] {
		g, err := enforcer.ParseGrace(f.grace)
		if err != nil {
			errs = append(errs, fmt.Errorf("grace: %w", err))
		}
		p.Grace = g
	}
	if set["action"] {
		a, err := enforcer.ParseAction(f.action)
		if err != nil {
			errs = append(errs, fmt.Errorf("--action: %w", err))
		}
		p.Action = a
	}
	if f.terminate {
		if set["action"] && p.Action != enforcer.ActionTerminate {
			errs = append(errs, fmt.Errorf("-k/--terminate contradicts --action %s", f.action))
		}
		p.Action = enforcer.ActionTerminate
	}
	if f.confirm {
		found := false
		for i := range p.Tags {
			if strings.EqualFold(strings.TrimSpace(p.Tags[i].Key), "created_by") {
				p.Tags[i].IAMUser, found = true, true
			}
		}
		if !found {
			errs = append(errs, errors.New("-c/--confirm checks the created_by tag, which is not a required tag (add it to -t)"))
		}
	}
	if set["r"] || set["regions"] {
		regions, err := enforcer.ParseRegions(f.regions)
		if err != nil {
			errs = append(errs, err)
		}
		p.Regions = regions
	}
	if set["max-actions"] {
		n, err := strconv.Atoi(strings.TrimSpace(f.maxActions))
		if err != nil || n < 1 {
			errs = append(errs, fmt.Errorf("--max-actions: %q is not a whole number of 1 or more", f.maxActions))
		}
		p.Limits.MaxActions = n
	}
	if set["max-actions-percent"] {
		v, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(f.maxPercent), "%"), 64)
		if err != nil || v <= 0 || v > 100 {
			errs = append(errs, fmt.Errorf("--max-actions-percent: %q is not a percentage above 0 and up to 100", f.maxPercent))
		}
		p.Limits.MaxPercent = v
	}
	if set["accounts"] {
		p.Accounts = nil
		for _, a := range strings.Split(f.accounts, ",") {
			p.Accounts = append(p.Accounts, strings.TrimSpace(a))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// outputFlags say where documents go and how results are shown.
type outputFlags struct {
	ndjson        string
	esURL         string
	esCAFile      string
	auditIndex    string
	violatorIndex string
	spoolDir      string
	output        string
	stats         bool
	logLevel      string
	logFormat     string
}

// register registers the flags sweep and enforce share.
func (f *outputFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.ndjson, "ndjson", "", "write documents as _bulk NDJSON to FILE (- for stdout)")
	f.registerES(fs)
	fs.BoolVar(&f.stats, "stats", false, "print the AWS API calls made, by operation")
	f.registerLogLevel(fs)
}

// registerReport registers the sweep's own output flags (enforce spools on its queue and prints
// no report).
func (f *outputFlags) registerReport(fs *flag.FlagSet) {
	fs.StringVar(&f.spoolDir, "spool-dir", ".", "where documents Elasticsearch did not take are spooled")
	fs.StringVar(&f.output, "output", "", "table or json (default: table on a terminal, json otherwise)")
}

// registerES registers the Elasticsearch flags, which ship shares.
func (f *outputFlags) registerES(fs *flag.FlagSet) {
	fs.StringVar(&f.esURL, "es-url", "", "Elasticsearch 8 URL (or "+config.EnvESURL+"); credentials from "+config.EnvESAPIKey+" or "+config.EnvESUsername+"/"+config.EnvESPassword)
	fs.StringVar(&f.esCAFile, "es-ca-file", "", "PEM file of CAs to trust for Elasticsearch (or "+config.EnvESCAFile+")")
	fs.StringVar(&f.auditIndex, "audit-index", "", "rollup index (default "+document.DefaultAuditIndex+")")
	fs.StringVar(&f.violatorIndex, "violator-index", "", "violator index (default "+document.DefaultViolatorIndex+")")
}

func (f *outputFlags) registerLogLevel(fs *flag.FlagSet) {
	fs.StringVar(&f.logLevel, "log-level", "info", "progress on stderr: debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log-format", "text", "progress on stderr as text or json lines")
}

// es returns the Elasticsearch settings: the environment, with flags over it, checked once the
// flags are applied (a flag replaces a bad value from the environment, and its own is named).
func (f *outputFlags) es(getenv config.Getenv) (config.ES, error) {
	es := config.ReadES(getenv)
	urlFrom, indicesFrom := config.EnvESURL, config.EnvAuditIndex+", "+config.EnvViolatorIndex
	if f.esURL != "" {
		es.URL, urlFrom = f.esURL, "--es-url"
	}
	if f.esCAFile != "" {
		es.CAFile = f.esCAFile
	}
	if f.auditIndex != "" {
		es.Indices.Audit = f.auditIndex
	}
	if f.violatorIndex != "" {
		es.Indices.Violator = f.violatorIndex
	}
	if f.auditIndex != "" || f.violatorIndex != "" {
		indicesFrom = "--audit-index, --violator-index (or " + indicesFrom + ")"
	}
	return es, es.Check(urlFrom, indicesFrom)
}

// awsFlags are the AWS connection flags.
type awsFlags struct {
	accessKey, secretKey string
	homeRegion           string
}

func (f *awsFlags) register(fs *flag.FlagSet) {
	str(fs, &f.accessKey, "a", "aws_access_key", "DEPRECATED: AWS access key (visible to other users; use the SDK's default credential chain)")
	str(fs, &f.secretKey, "s", "aws_secret_key", "DEPRECATED: AWS secret key (visible to other users; use the SDK's default credential chain)")
	fs.StringVar(&f.homeRegion, "home-region", "", "region for IAM, STS, SQS and region discovery (default: AWS_REGION, else us-east-1)")
}

// warn prints the warning the original's key flags now carry.
func (f *awsFlags) warn(w io.Writer) {
	if f.accessKey != "" || f.secretKey != "" {
		fmt.Fprintln(w, "awsaudit: warning: -a/-s put AWS secrets on the command line, where other users of this machine can read them; use the SDK's default credential chain (environment, ~/.aws, instance or task role) instead")
	}
}

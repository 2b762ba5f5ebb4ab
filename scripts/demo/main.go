// Command demo shows awsaudit end to end with no AWS account: it starts moto_server (a local AWS
// emulator) and the project's Elasticsearch 8 test server, builds a small multi-region world,
// runs the real awsaudit binary — a report sweep, then a terminate sweep — and then the event
// path: two launches, their CloudTrail events through EventBridge and the SQS delay queue, and
// the enforcer acting after a short grace period. Run it with `make demo`.
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/awsaudit/awsaudit/internal/document"
	"github.com/awsaudit/awsaudit/internal/estest"
	"github.com/awsaudit/awsaudit/internal/mototest"
)

const (
	home     = "us-east-1"
	scheme   = "created_by,department,project"
	noCanary = "ap-south-1"
)

var regions = []string{home, "us-west-2", "eu-west-1", noCanary}

func main() {
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// demo holds what the steps share.
type demo struct {
	dir   string
	bin   string
	moto  *mototest.Server
	es    *estest.Server
	names map[string]string // instance id → region/name, for printing states
}

func run(ctx context.Context) error {
	dir, err := filepath.Abs(".demo")
	if err != nil {
		return err
	}
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	d := &demo{dir: dir, bin: filepath.Join(dir, "awsaudit"), names: map[string]string{}}

	title("Starting a local AWS (moto_server) and an Elasticsearch 8 test server")
	if d.moto, err = mototest.StartProcess(ctx, filepath.Join(dir, "moto.log")); err != nil {
		return fmt.Errorf("starting moto_server (pip install 'moto[server]'): %w", err)
	}
	defer func() {
		d.moto.Close()
		fmt.Println("\nmoto_server stopped.")
	}()
	d.es = estest.New(estest.Options{})
	defer d.es.Close()
	fmt.Printf("moto_server      %s\nElasticsearch 8  %s (in-process test server, strict mappings)\n", d.moto.URL, d.es.URL)

	title("Building awsaudit")
	if out, err := exec.Command("go", "build", "-o", d.bin, "./cmd/awsaudit").CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	fmt.Println(d.bin)

	title("Building the world: four regions, a canary in three of them")
	if err := d.buildWorld(ctx); err != nil {
		return err
	}

	title("1. Report sweep (the default action changes nothing)")
	if err := d.awsaudit(ctx, 3, "-r", strings.Join(regions, ","), "-t", scheme, "-g", "0",
		"--ndjson", filepath.Join(dir, "report.ndjson"), "--es-url", d.es.URL, "--output", "table"); err != nil {
		return err
	}
	d.printStates(ctx)

	title("2. Terminate sweep (-k), at most 10 actions")
	if err := d.awsaudit(ctx, 3, "-r", strings.Join(regions, ","), "-t", scheme, "-g", "0", "-k", "--max-actions", "10",
		"--ndjson", filepath.Join(dir, "terminate.ndjson"), "--es-url", d.es.URL, "--output", "table"); err != nil {
		return err
	}
	d.printStates(ctx)

	if err := d.eventPath(ctx); err != nil {
		return err
	}

	title("Where the documents went")
	for _, f := range []string{"report.ndjson", "terminate.ndjson"} {
		n, err := countDocs(filepath.Join(dir, f))
		if err != nil {
			return err
		}
		fmt.Printf("%-40s %d documents (_bulk NDJSON: replay with curl -XPOST ES/_bulk --data-binary @FILE)\n", filepath.Join(dir, f), n)
	}
	fmt.Printf("Elasticsearch %-26s %d rollups in %s, %d violator documents in %s\n", d.es.URL,
		d.es.Count(document.DefaultAuditIndex), document.DefaultAuditIndex, d.es.Count(document.DefaultViolatorIndex), document.DefaultViolatorIndex)
	fmt.Println("\nThe demo's region without a canary (" + noCanary + ") is unverified by design: the sweeps exit 3 and act on nothing there.")
	return nil
}

func title(s string) { fmt.Printf("\n\033[1m== %s\033[0m\n", s) }

// env is the environment the awsaudit binary runs with: every AWS call goes to moto.
func (d *demo) env() []string {
	return append(os.Environ(), d.moto.Env(home)...)
}

// awsaudit runs the binary and shows its output; an exit code other than the one expected fails
// the demo.
func (d *demo) awsaudit(ctx context.Context, wantExit int, args ...string) error {
	fmt.Printf("$ awsaudit %s\n", strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, d.bin, args...)
	cmd.Env = d.env()
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stdout
	err := cmd.Run()
	if cmd.ProcessState == nil {
		return fmt.Errorf("running awsaudit: %w", err)
	}
	code := cmd.ProcessState.ExitCode()
	if code != wantExit {
		return fmt.Errorf("awsaudit %s: exit %d, the demo expects %d", args[0], code, wantExit)
	}
	fmt.Printf("-> exit %d (as expected)\n", code)
	return nil
}

type spec struct {
	name string
	tags []string
}

func (d *demo) buildWorld(ctx context.Context) error {
	world := map[string][]spec{
		home: {
			{"web-1", []string{"Name", "web-1", "created_by", "alice", "department", "eng", "project", "shop"}},
			{"batch-7", []string{"Name", "batch-7", "created_by", "bob", "department", "data"}},
			{"scratch", []string{"Name", "scratch"}},
			{"blank-dept", []string{"Name", "blank-dept", "created_by", "carol", "department", " ", "project", "shop"}},
			{"asg-member", []string{"created_by", "dave", "aws:autoscaling:groupName", "web-asg"}},
			{"exempt", []string{"Name", "exempt", "created_by", "erin", "awsaudit:exempt", time.Now().AddDate(0, 0, 14).Format(time.DateOnly) + "; load test until the 14th"}},
		},
		"us-west-2": {
			{"api-1", []string{"Name", "api-1", "created_by", "alice", "department", "eng", "project", "api"}},
			{"Mixed-Case", []string{"Created_By", "frank", "DEPARTMENT", "ops", "Project", "infra"}},
			{"forgotten", []string{"Name", "forgotten", "created_by", "gina"}},
		},
		"eu-west-1": {
			{"etl", []string{"Name", "etl", "created_by", "hank", "department", "data", "project", "etl"}},
			{"untagged", nil},
		},
		noCanary: {
			{"lonely", []string{"Name", "lonely"}},
		},
	}
	for _, r := range regions {
		cfg := mototest.Config(d.moto.URL, r)
		client := ec2.NewFromConfig(cfg)
		if r != noCanary {
			id, err := launch(ctx, client, mototestCanaryTags(r))
			if err != nil {
				return err
			}
			if _, err := client.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{id}}); err != nil {
				return err
			}
			d.names[id] = r + "/api-canary-" + r
		}
		for _, s := range world[r] {
			id, err := launch(ctx, client, s.tags)
			if err != nil {
				return err
			}
			d.names[id] = r + "/" + s.name
		}
		fmt.Printf("%-15s %d instances%s\n", r, len(world[r])+boolInt(r != noCanary), map[bool]string{true: " + a stopped canary", false: ", no canary"}[r != noCanary])
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func mototestCanaryTags(region string) []string {
	var kv []string
	for _, t := range mototest.CanaryTags(region) {
		kv = append(kv, t.Key, t.Value)
	}
	return kv
}

// launch starts one instance with the tags (key, value pairs) and returns its id.
func launch(ctx context.Context, client *ec2.Client, kv []string) (string, error) {
	in := &ec2.RunInstancesInput{ImageId: aws.String(mototest.DefaultImageID), InstanceType: mototest.DefaultInstanceType, MinCount: aws.Int32(1), MaxCount: aws.Int32(1)}
	if len(kv) > 0 {
		var tags []types.Tag
		for i := 0; i+1 < len(kv); i += 2 {
			tags = append(tags, types.Tag{Key: aws.String(kv[i]), Value: aws.String(kv[i+1])})
		}
		in.TagSpecifications = []types.TagSpecification{{ResourceType: types.ResourceTypeInstance, Tags: tags}}
	}
	out, err := client.RunInstances(ctx, in)
	if err != nil {
		return "", fmt.Errorf("launching an instance: %w", err)
	}
	return aws.ToString(out.Instances[0].InstanceId), nil
}

// printStates shows every instance's state now.
func (d *demo) printStates(ctx context.Context) {
	fmt.Println("\nInstance states now:")
	for _, r := range regions {
		out, err := ec2.NewFromConfig(mototest.Config(d.moto.URL, r)).DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
		if err != nil {
			fmt.Println("  describing:", err)
			continue
		}
		var line []string
		for _, res := range out.Reservations {
			for _, in := range res.Instances {
				name := d.names[aws.ToString(in.InstanceId)]
				if name == "" {
					continue
				}
				line = append(line, fmt.Sprintf("%s=%s", strings.TrimPrefix(name, r+"/"), in.State.Name))
			}
		}
		fmt.Printf("  %-15s %s\n", r, strings.Join(line, "  "))
	}
}

func countDocs(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	docs, err := document.ReadBulk(f)
	return len(docs), err
}

package awsapi

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// terraformDir is the root configuration whose IAM policies must match the code's action lists.
const terraformDir = "../../terraform"

// functionRoles says, per Lambda function resource in terraform/, which actions its code calls
// and which other actions its role may hold because the infrastructure needs them. Required
// infrastructure actions must be granted too: without them the function cannot run.
var functionRoles = map[string]struct {
	list     string // the code list's name, for messages
	code     []string
	required []string // the infrastructure's own, needed
	optional []string // the infrastructure's own, granted only in some configurations
}{
	"enforcer": {
		list: "awsapi.EnforcerActions",
		code: EnforcerActions,
		required: []string{
			// The SQS event source mapping polls the queue with the function's role.
			"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
			"logs:CreateLogStream", "logs:PutLogEvents",
		},
		// A customer managed key on the Elasticsearch secret (var.kms_key_arn).
		optional: []string{"kms:Decrypt"},
	},
	"reconciler": {
		list:     "awsapi.ReconcilerActions",
		code:     ReconcilerActions,
		required: []string{"logs:CreateLogStream", "logs:PutLogEvents"},
		optional: []string{"kms:Decrypt"},
	},
}

// infrastructureRoles are the roles no awsaudit code runs under, and what each may do.
var infrastructureRoles = map[string][]string{
	"forward":   {"events:PutEvents"},      // EventBridge forwarding rules, to the home bus
	"scheduler": {"lambda:InvokeFunction"}, // EventBridge Scheduler, starting the reconciler
}

// TestTerraformGrantsWhatTheCodeCalls compares each function role's policies in terraform/ with
// the code's own action lists, both ways, and the infrastructure roles with what they are for.
func TestTerraformGrantsWhatTheCodeCalls(t *testing.T) {
	cfg := loadTerraform(t, terraformDir)

	functionsSeen := map[string]bool{}
	for _, fn := range cfg.resources("aws_lambda_function") {
		want, ok := functionRoles[fn.Labels[1]]
		if !ok {
			t.Errorf("%s: Lambda function %q is not in functionRoles; add its code's action list", fn.pos(), fn.Labels[1])
			continue
		}
		functionsSeen[fn.Labels[1]] = true
		role := cfg.roleOf(t, fn)
		granted := cfg.grants(t, role)
		for _, p := range compareGrants(fn.Labels[1], want.list, want.code, want.required, want.optional, granted) {
			t.Error(p)
		}
	}
	for name := range functionRoles {
		if !functionsSeen[name] {
			t.Errorf("terraform/ has no aws_lambda_function %q", name)
		}
	}

	rolesSeen := map[string]bool{}
	for _, r := range cfg.resources("aws_iam_role") {
		name := r.Labels[1]
		rolesSeen[name] = true
		if _, fn := functionRoles[name]; fn {
			continue // checked above, through the function that uses it
		}
		allowed, ok := infrastructureRoles[name]
		if !ok {
			t.Errorf("%s: IAM role %q is neither a function's role nor in infrastructureRoles; say what it may do", r.pos(), name)
			continue
		}
		for action, where := range cfg.grants(t, name) {
			if !slices.Contains(allowed, action) {
				t.Errorf("terraform/ grants the %s role %s (%s), which infrastructureRoles does not allow it", name, action, strings.Join(where, ", "))
			}
		}
	}
	for name := range infrastructureRoles {
		if !rolesSeen[name] {
			t.Errorf("terraform/ has no aws_iam_role %q", name)
		}
	}

	// The test sees inline policies only: a managed policy attached to a role would grant what it
	// cannot read.
	for _, typ := range []string{"aws_iam_role_policy_attachment", "aws_iam_policy_attachment", "aws_iam_role_policies_exclusive", "aws_iam_role_policy_attachments_exclusive", "aws_iam_policy"} {
		for _, r := range cfg.resources(typ) {
			t.Errorf("%s: %s %q: this test reads inline role policies only (aws_iam_role_policy); extend it before attaching managed policies", r.pos(), typ, r.Labels[1])
		}
	}
	for _, r := range cfg.resources("aws_iam_role") {
		if _, ok := r.Attrs["managed_policy_arns"]; ok || len(r.blocks("inline_policy")) > 0 {
			t.Errorf("%s: aws_iam_role %q: declare its policies as aws_iam_role_policy resources, which this test reads", r.pos(), r.Labels[1])
		}
	}
}

// compareGrants returns one line per action that drifted between what the code of function
// calls and what its role is granted (action -> where). An empty result means they agree.
func compareGrants(function, list string, code, required, optional []string, granted map[string][]string) []string {
	var problems []string
	for _, a := range code {
		if _, ok := granted[a]; !ok && !slices.Contains(NoPermissionActions, a) {
			problems = append(problems, fmt.Sprintf("the %s role lacks %s, which %s lists (the code calls it): grant it in terraform/iam.tf or drop it from the list", function, a, list))
		}
	}
	for _, a := range required {
		if _, ok := granted[a]; !ok {
			problems = append(problems, fmt.Sprintf("the %s role lacks %s, which the infrastructure needs", function, a))
		}
	}
	var extra []string
	for a := range granted {
		if !slices.Contains(code, a) && !slices.Contains(required, a) && !slices.Contains(optional, a) {
			extra = append(extra, a)
		}
	}
	slices.Sort(extra)
	for _, a := range extra {
		problems = append(problems, fmt.Sprintf("the %s role is granted %s (%s), which neither %s nor the infrastructure allow-list has: remove the grant or list the call", function, a, strings.Join(granted[a], ", "), list))
	}
	return problems
}

func TestCompareGrantsNamesTheDriftedAction(t *testing.T) {
	code := []string{"ec2:DescribeInstances", "ec2:TerminateInstances", "sts:GetCallerIdentity"}
	required := []string{"logs:PutLogEvents"}
	optional := []string{"kms:Decrypt"}
	at := []string{"iam.tf:1"}
	tests := []struct {
		name    string
		granted map[string][]string
		want    []string // substrings, one per problem, in order
	}{
		{"agree", map[string][]string{"ec2:DescribeInstances": at, "ec2:TerminateInstances": at, "logs:PutLogEvents": at}, nil},
		{"optional granted", map[string][]string{"ec2:DescribeInstances": at, "ec2:TerminateInstances": at, "logs:PutLogEvents": at, "kms:Decrypt": at}, nil},
		{"code action not granted", map[string][]string{"ec2:DescribeInstances": at, "logs:PutLogEvents": at}, []string{"lacks ec2:TerminateInstances"}},
		{"grant the code does not call", map[string][]string{"ec2:DescribeInstances": at, "ec2:TerminateInstances": at, "logs:PutLogEvents": at, "ec2:RebootInstances": at}, []string{"granted ec2:RebootInstances (iam.tf:1)"}},
		{"infrastructure action missing", map[string][]string{"ec2:DescribeInstances": at, "ec2:TerminateInstances": at}, []string{"lacks logs:PutLogEvents, which the infrastructure needs"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := compareGrants("enforcer", "EnforcerActions", code, required, optional, tt.granted)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d problems %q, want %d", len(got), got, len(tt.want))
			}
			for i := range got {
				if !strings.Contains(got[i], tt.want[i]) {
					t.Errorf("problem %d = %q, want it to contain %q", i, got[i], tt.want[i])
				}
			}
		})
	}
}

// actionName is the form of an IAM action in a policy: "service:Action", a wildcard allowed.
var actionName = regexp.MustCompile(`^[a-z0-9-]+:[A-Za-z0-9*?]+$`)

func TestActionListsAreWellFormed(t *testing.T) {
	for name, list := range map[string][]string{
		"EnforcerActions": EnforcerActions, "ReconcilerActions": ReconcilerActions,
		"WorkerActions": WorkerActions, "NoPermissionActions": NoPermissionActions,
	} {
		seen := map[string]bool{}
		for _, a := range list {
			if !actionName.MatchString(a) || strings.ContainsAny(a, "*?") {
				t.Errorf("%s: %q is not an IAM action name without wildcards", name, a)
			}
			if seen[a] {
				t.Errorf("%s lists %s twice", name, a)
			}
			seen[a] = true
		}
	}
}

func TestActionFor(t *testing.T) {
	tests := []struct {
		service, operation, want string
		ok                       bool
	}{
		{"EC2", "DescribeInstances", "ec2:DescribeInstances", true},
		{"Secrets Manager", "GetSecretValue", "secretsmanager:GetSecretValue", true},
		{"SQS", "SendMessageBatch", "sqs:SendMessage", true},
		{"SQS", "DeleteMessageBatch", "sqs:DeleteMessage", true},
		{"STS", "GetCallerIdentity", "sts:GetCallerIdentity", true},
		{"Unknown", "Op", "", false},
		{"EC2", "", "", false},
	}
	for _, tt := range tests {
		got, ok := ActionFor(tt.service, tt.operation)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ActionFor(%q, %q) = %q, %t; want %q, %t", tt.service, tt.operation, got, ok, tt.want, tt.ok)
		}
	}
}

// ------------------------------------------------------------------------------------------------
// A small structural reader of Terraform files: blocks, their labels and attributes (expressions
// kept as source text without comments). Enough to follow function -> role -> role policies ->
// policy documents -> statements -> actions; it does not evaluate expressions, so a statement
// that is granted only in some configurations (a dynamic block, a conditional action) counts as
// granted: the code's list is the union of what the code may call.
// ------------------------------------------------------------------------------------------------

type tfBlock struct {
	Type   string
	Labels []string
	Attrs  map[string]string
	Blocks []*tfBlock
	File   string
	Line   int
}

func (b *tfBlock) pos() string { return fmt.Sprintf("%s:%d", filepath.Base(b.File), b.Line) }

func (b *tfBlock) blocks(typ string) []*tfBlock {
	var out []*tfBlock
	for _, c := range b.Blocks {
		if c.Type == typ {
			out = append(out, c)
		}
	}
	return out
}

type tfConfig struct{ top []*tfBlock }

// resources returns the resource blocks of type typ.
func (c *tfConfig) resources(typ string) []*tfBlock { return c.find("resource", typ) }

func (c *tfConfig) find(kind, typ string) []*tfBlock {
	var out []*tfBlock
	for _, b := range c.top {
		if b.Type == kind && len(b.Labels) == 2 && b.Labels[0] == typ {
			out = append(out, b)
		}
	}
	return out
}

func (c *tfConfig) one(t *testing.T, kind, typ, name string) *tfBlock {
	t.Helper()
	for _, b := range c.find(kind, typ) {
		if b.Labels[1] == name {
			return b
		}
	}
	t.Fatalf("terraform/ has no %s %q %q", kind, typ, name)
	return nil
}

var (
	roleRef     = regexp.MustCompile(`\baws_iam_role\.([A-Za-z0-9_-]+)\b`)
	documentRef = regexp.MustCompile(`\bdata\.aws_iam_policy_document\.([A-Za-z0-9_-]+)\b`)
	stringLit   = regexp.MustCompile(`"((?:[^"\\]|\\.)*)"`)
)

// roleOf returns the name of the aws_iam_role a function runs as.
func (c *tfConfig) roleOf(t *testing.T, fn *tfBlock) string {
	t.Helper()
	m := roleRef.FindStringSubmatch(fn.Attrs["role"])
	if m == nil {
		t.Fatalf("%s: the role of %q is not an aws_iam_role of this configuration: %q", fn.pos(), fn.Labels[1], fn.Attrs["role"])
	}
	return m[1]
}

// grants returns the actions role's inline policies allow, each with where it is granted.
func (c *tfConfig) grants(t *testing.T, role string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	found := false
	for _, rp := range c.resources("aws_iam_role_policy") {
		m := roleRef.FindStringSubmatch(rp.Attrs["role"])
		if m == nil || m[1] != role {
			continue
		}
		found = true
		docs := documentRef.FindAllStringSubmatch(rp.Attrs["policy"], -1)
		if len(docs) == 0 {
			t.Errorf("%s: aws_iam_role_policy %q: its policy is not a data.aws_iam_policy_document, which this test reads", rp.pos(), rp.Labels[1])
		}
		for _, d := range docs {
			c.documentGrants(t, d[1], out, map[string]bool{})
		}
	}
	if !found {
		t.Errorf("no aws_iam_role_policy grants the %s role anything", role)
	}
	return out
}

// documentGrants adds the actions the Allow statements of a policy document (and the documents
// it includes) grant.
func (c *tfConfig) documentGrants(t *testing.T, name string, out map[string][]string, seen map[string]bool) {
	t.Helper()
	if seen[name] {
		return
	}
	seen[name] = true
	doc := c.one(t, "data", "aws_iam_policy_document", name)
	for _, attr := range []string{"source_policy_documents", "override_policy_documents"} {
		for _, d := range documentRef.FindAllStringSubmatch(doc.Attrs[attr], -1) {
			c.documentGrants(t, d[1], out, seen)
		}
	}
	for _, attr := range []string{"source_json", "override_json"} {
		if _, ok := doc.Attrs[attr]; ok {
			t.Errorf("%s: policy document %q uses %s, which this test cannot read", doc.pos(), name, attr)
		}
	}
	var statements []*tfBlock
	statements = append(statements, doc.blocks("statement")...)
	for _, d := range doc.blocks("dynamic") {
		if len(d.Labels) == 1 && d.Labels[0] == "statement" {
			statements = append(statements, d.blocks("content")...)
		}
	}
	for _, s := range statements {
		if _, ok := s.Attrs["not_actions"]; ok {
			t.Errorf("%s: policy document %q has a not_actions statement, which this test cannot check", s.pos(), name)
		}
		if strings.Contains(s.Attrs["effect"], "Deny") {
			continue
		}
		if e, ok := s.Attrs["effect"]; ok && strings.TrimSpace(e) != `"Allow"` {
			t.Errorf("%s: policy document %q: effect %s is not a literal \"Allow\" or \"Deny\"", s.pos(), name, e)
		}
		sid := "statement"
		if m := stringLit.FindStringSubmatch(s.Attrs["sid"]); m != nil {
			sid = m[1]
		}
		for _, m := range stringLit.FindAllStringSubmatch(s.Attrs["actions"], -1) {
			if !strings.Contains(m[1], ":") {
				continue // an operand, as in compact([var.action == "stop" ? "ec2:StopInstances" : ""])
			}
			if !actionName.MatchString(m[1]) {
				t.Errorf("%s: policy document %q: %q is not an IAM action", s.pos(), name, m[1])
				continue
			}
			if strings.ContainsAny(m[1], "*?") {
				t.Errorf("%s: policy document %q grants the wildcard %s: list the actions", s.pos(), name, m[1])
			}
			out[m[1]] = append(out[m[1]], fmt.Sprintf("%s %s %s", filepath.Base(s.File), name, sid))
		}
	}
}

// loadTerraform reads the .tf files of dir (not its subfolders: examples and tests are not part of
// the deployment).
func loadTerraform(t *testing.T, dir string) *tfConfig {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil || len(files) == 0 {
		t.Fatalf("reading %s: no .tf files (%v)", dir, err)
	}
	cfg := &tfConfig{}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		body, err := parseTerraform(f, string(src))
		if err != nil {
			t.Fatalf("parsing %s: %v", f, err)
		}
		cfg.top = append(cfg.top, body.Blocks...)
	}
	return cfg
}

type tfParser struct {
	file string
	src  string
	i    int
	line int
}

func parseTerraform(file, src string) (*tfBlock, error) {
	p := &tfParser{file: file, src: src, line: 1}
	root := &tfBlock{File: file, Line: 1, Attrs: map[string]string{}}
	if err := p.body(root, false); err != nil {
		return nil, err
	}
	return root, nil
}

func (p *tfParser) errorf(format string, args ...any) error {
	return fmt.Errorf("line %d: %s", p.line, fmt.Sprintf(format, args...))
}

func (p *tfParser) peek(off int) byte {
	if p.i+off < len(p.src) {
		return p.src[p.i+off]
	}
	return 0
}

func (p *tfParser) advance() {
	if p.src[p.i] == '\n' {
		p.line++
	}
	p.i++
}

// skipComment skips a comment starting at the cursor, if there is one, and reports whether it did.
// A line comment stops before its newline.
func (p *tfParser) skipComment() bool {
	switch {
	case p.peek(0) == '#', p.peek(0) == '/' && p.peek(1) == '/':
		for p.i < len(p.src) && p.src[p.i] != '\n' {
			p.advance()
		}
		return true
	case p.peek(0) == '/' && p.peek(1) == '*':
		p.advance()
		p.advance()
		for p.i < len(p.src) && !(p.peek(0) == '*' && p.peek(1) == '/') {
			p.advance()
		}
		if p.i < len(p.src) {
			p.advance()
			p.advance()
		}
		return true
	}
	return false
}

// skipSpace skips blanks, newlines and comments.
func (p *tfParser) skipSpace() {
	for p.i < len(p.src) {
		switch c := p.src[p.i]; {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			p.advance()
		case p.skipComment():
		default:
			return
		}
	}
}

func isIdentByte(c byte, first bool) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || !first && (c == '-' || c >= '0' && c <= '9')
}

func (p *tfParser) ident() string {
	start := p.i
	for p.i < len(p.src) && isIdentByte(p.src[p.i], p.i == start) {
		p.advance()
	}
	return p.src[start:p.i]
}

// body reads attributes and blocks up to the end of input or, when nested, the closing brace.
func (p *tfParser) body(b *tfBlock, nested bool) error {
	for {
		p.skipSpace()
		if p.i >= len(p.src) {
			if nested {
				return p.errorf("unclosed block %s", b.Type)
			}
			return nil
		}
		if p.src[p.i] == '}' {
			if !nested {
				return p.errorf("unexpected }")
			}
			p.advance()
			return nil
		}
		line := p.line
		name := p.ident()
		if name == "" {
			return p.errorf("unexpected %q", p.src[p.i])
		}
		for p.peek(0) == ' ' || p.peek(0) == '\t' {
			p.advance()
		}
		if p.peek(0) == '=' && p.peek(1) != '=' {
			p.advance()
			expr, err := p.expression()
			if err != nil {
				return err
			}
			b.Attrs[name] = expr
			continue
		}
		child := &tfBlock{Type: name, File: p.file, Line: line, Attrs: map[string]string{}}
		for {
			p.skipSpace()
			if p.peek(0) == '"' {
				var sb strings.Builder
				if err := p.quoted(&sb); err != nil {
					return err
				}
				child.Labels = append(child.Labels, strings.Trim(sb.String(), `"`))
				continue
			}
			if l := p.ident(); l != "" {
				child.Labels = append(child.Labels, l)
				continue
			}
			break
		}
		if p.peek(0) != '{' {
			return p.errorf("block %s: want {, found %q", name, p.peek(0))
		}
		p.advance()
		if err := p.body(child, true); err != nil {
			return err
		}
		b.Blocks = append(b.Blocks, child)
	}
}

// expression reads an attribute's expression up to the newline (or closing brace) that ends it
// at bracket depth 0, and returns it without comments.
func (p *tfParser) expression() (string, error) {
	var sb strings.Builder
	depth := 0
	for p.i < len(p.src) {
		c := p.src[p.i]
		switch {
		case p.skipComment():
			continue
		case c == '"':
			if err := p.quoted(&sb); err != nil {
				return "", err
			}
			continue
		case c == '<' && p.peek(1) == '<' && (isIdentByte(p.peek(2), true) || p.peek(2) == '-'):
			if err := p.heredoc(&sb); err != nil {
				return "", err
			}
			continue
		case c == '(' || c == '[' || c == '{':
			depth++
		case c == ')' || c == ']' || c == '}':
			if depth == 0 {
				return strings.TrimSpace(sb.String()), nil // the enclosing block's brace
			}
			depth--
		case c == '\n' && depth == 0:
			return strings.TrimSpace(sb.String()), nil
		}
		sb.WriteByte(c)
		p.advance()
	}
	if depth != 0 {
		return "", p.errorf("unclosed bracket at end of file")
	}
	return strings.TrimSpace(sb.String()), nil
}

// quoted copies a quoted string, templates included, to sb.
func (p *tfParser) quoted(sb *strings.Builder) error {
	start := p.line
	sb.WriteByte('"')
	p.advance()
	for p.i < len(p.src) {
		c := p.src[p.i]
		switch {
		case c == '\\':
			sb.WriteByte(c)
			p.advance()
			if p.i < len(p.src) {
				sb.WriteByte(p.src[p.i])
				p.advance()
			}
			continue
		case c == '"':
			sb.WriteByte(c)
			p.advance()
			return nil
		case (c == '$' || c == '%') && p.peek(1) == '{':
			if err := p.template(sb); err != nil {
				return err
			}
			continue
		case c == '\n':
			return fmt.Errorf("line %d: unterminated string", start)
		}
		sb.WriteByte(c)
		p.advance()
	}
	return fmt.Errorf("line %d: unterminated string", start)
}

// template copies a ${...} or %{...} sequence, which may hold strings and braces, to sb.
func (p *tfParser) template(sb *strings.Builder) error {
	sb.WriteString(p.src[p.i : p.i+2])
	p.advance()
	p.advance()
	depth := 1
	for p.i < len(p.src) {
		c := p.src[p.i]
		switch c {
		case '"':
			if err := p.quoted(sb); err != nil {
				return err
			}
			continue
		case '{':
			depth++
		case '}':
			depth--
		}
		sb.WriteByte(c)
		p.advance()
		if depth == 0 {
			return nil
		}
	}
	return p.errorf("unterminated template sequence")
}

// heredoc copies a <<MARKER or <<-MARKER string to sb.
func (p *tfParser) heredoc(sb *strings.Builder) error {
	start := p.i
	p.advance()
	p.advance()
	if p.peek(0) == '-' {
		p.advance()
	}
	marker := p.ident()
	for p.i < len(p.src) {
		lineStart := p.i
		for p.i < len(p.src) && p.src[p.i] != '\n' {
			p.advance()
		}
		if lineStart != start && strings.TrimSpace(p.src[lineStart:p.i]) == marker {
			sb.WriteString(p.src[start:p.i])
			return nil
		}
		if p.i < len(p.src) {
			p.advance()
		}
	}
	return p.errorf("unterminated heredoc %s", marker)
}

func TestParseTerraform(t *testing.T) {
	src := `
# a comment with "ec2:NotAnAction" in it
data "aws_iam_policy_document" "x" {
  statement {
    sid = "A" // trailing
    actions = [
      "ec2:DescribeInstances", # "ec2:Commented"
      var.on ? "ec2:StopInstances" : "",
    ]
    resources = ["arn:${local.p}:ec2:*:${lookup(local.m, "k", "}")}:instance/*"]
  }
  dynamic "statement" {
    for_each = local.on ? [1] : []
    content { actions = ["iam:GetUser"] }
  }
  statement {
    effect  = "Deny"
    actions = ["ec2:TerminateInstances"]
  }
}
locals {
  doc = <<-EOT
    { "not": "a block" }
  EOT
  n = { a = 1 }
}
`
	root, err := parseTerraform("x.tf", src)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tfConfig{top: root.Blocks}
	out := map[string][]string{}
	cfg.documentGrants(t, "x", out, map[string]bool{})
	var got []string
	for a := range out {
		got = append(got, a)
	}
	slices.Sort(got)
	want := []string{"ec2:DescribeInstances", "ec2:StopInstances", "iam:GetUser"}
	if !slices.Equal(got, want) {
		t.Errorf("granted %q, want %q", got, want)
	}
	if len(root.Blocks) != 2 || root.Blocks[1].Type != "locals" || !strings.Contains(root.Blocks[1].Attrs["doc"], "not") || root.Blocks[1].Attrs["n"] != "{ a = 1 }" {
		t.Errorf("locals block read wrong: %+v", root.Blocks[1])
	}
}

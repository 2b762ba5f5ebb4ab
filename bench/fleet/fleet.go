// Package fleet describes the synthetic EC2 fleets the benchmarks sweep. A region holds one
// canary (stopped, with the canary's tags), compliant instances with 5 to 10 tags each, and a
// given number of violators spread evenly through the listing. Everything is derived from the
// region and the instance's index, so a fleet is the same every time: package endpoint renders it
// as DescribeInstances pages, package seed launches it in moto_server.
package fleet

import (
	"fmt"
	"hash/fnv"
	"math"
	"time"
)

// The policy every benchmark sweeps with: the original tool's three keys.
const (
	Scheme = "created_by,department,project"
	// AccountID and Alias are what STS and IAM answer.
	AccountID = "123456789012"
	Alias     = "bench-account"
)

// Regions17 are the 17 commercial regions enabled by default: the at-scale fleet spans them.
var Regions17 = []string{
	"us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "sa-east-1",
	"eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1", "eu-north-1",
	"ap-south-1", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-southeast-1", "ap-southeast-2",
}

// Tag is one EC2 tag.
type Tag struct{ Key, Value string }

// Kind is what the policy makes of an instance.
type Kind int

// The kinds.
const (
	Compliant Kind = iota
	Violator
	Canary
)

// Region is one region's share of a fleet. Instances counts the canary.
type Region struct {
	Name      string
	Instances int
	Violators int
}

// Fleet is a whole account's instances, region by region.
type Fleet struct {
	Regions []Region
	// Base is the clock the launch times are relative to: every instance launched between 1 hour
	// and 400 days before it.
	Base time.Time
}

// Instances returns the instance count over all regions.
func (f Fleet) Instances() int {
	n := 0
	for _, r := range f.Regions {
		n += r.Instances
	}
	return n
}

// Violators returns the violator count over all regions.
func (f Fleet) Violators() int {
	n := 0
	for _, r := range f.Regions {
		n += r.Violators
	}
	return n
}

// RegionNames returns the regions' names in order.
func (f Fleet) RegionNames() []string {
	out := make([]string, len(f.Regions))
	for i, r := range f.Regions {
		out[i] = r.Name
	}
	return out
}

// Even returns a fleet of perRegion instances (canary included) in each region, with violators
// (in total over all regions) spread over the regions as evenly as whole numbers allow.
func Even(regions []string, perRegion, violators int, base time.Time) Fleet {
	f := Fleet{Base: base}
	for i, name := range regions {
		v := violators / len(regions)
		if i < violators%len(regions) {
			v++
		}
		f.Regions = append(f.Regions, Region{Name: name, Instances: perRegion, Violators: min(v, perRegion-1)})
	}
	return f
}

// Spread returns a fleet of total instances over regions the way real accounts look: the first
// region holds 30%, the next two 20% and 15%, the rest share what is left evenly. violators are
// spread in proportion to instances.
func Spread(regions []string, total, violators int, base time.Time) Fleet {
	weights := make([]float64, len(regions))
	rest := 1.0
	for i, w := range []float64{0.30, 0.20, 0.15} {
		if i < len(regions)-1 {
			weights[i] = w
			rest -= w
		}
	}
	head := min(3, len(regions)-1)
	if len(regions) == 1 {
		head, rest = 0, 1
	}
	for i := head; i < len(regions); i++ {
		weights[i] = rest / float64(len(regions)-head)
	}
	f := Fleet{Base: base}
	instances := apportion(total, weights)
	vw := make([]float64, len(regions))
	for i, n := range instances {
		vw[i] = float64(n) / float64(total)
	}
	vs := apportion(violators, vw)
	for i, name := range regions {
		n := max(instances[i], 2)
		f.Regions = append(f.Regions, Region{Name: name, Instances: n, Violators: min(vs[i], n-1)})
	}
	return f
}

// apportion splits total by weights into whole numbers that add up to total (largest remainder).
func apportion(total int, weights []float64) []int {
	out := make([]int, len(weights))
	type rem struct {
		i int
		r float64
	}
	var rems []rem
	given := 0
	for i, w := range weights {
		exact := float64(total) * w
		out[i] = int(math.Floor(exact))
		given += out[i]
		rems = append(rems, rem{i, exact - math.Floor(exact)})
	}
	for given < total {
		best := 0
		for k := range rems {
			if rems[k].r > rems[best].r {
				best = k
			}
		}
		out[rems[best].i]++
		rems[best].r = -1
		given++
	}
	return out
}

// KindOf returns what instance i (0 ≤ i < r.Instances) of the region is: index 0 is the canary,
// and exactly r.Violators of the others, evenly spaced, are violators.
func (r Region) KindOf(i int) Kind {
	switch {
	case i == 0:
		return Canary
	case r.Violators > 0 && r.Instances > 1:
		n := r.Instances - 1
		if (i*r.Violators)/n != ((i-1)*r.Violators)/n {
			return Violator
		}
	}
	return Compliant
}

// Instance is one instance of a fleet, as the benchmarks describe it.
type Instance struct {
	Region string
	Index  int
	Kind   Kind
	// ID is an EC2-shaped instance id unique in the fleet.
	ID         string
	State      string
	Type       string
	Zone       string
	LaunchTime time.Time
	// AttachTime is the primary network interface's attachment time.
	AttachTime time.Time
	Tags       []Tag
	// Seq numbers the instance's kind: the n-th violator of its region has Seq n.
	Seq int
	// Hash varies every other field (addresses, volume ids) from instance to instance.
	Hash uint64
}

var (
	users       = []string{"alice", "bob", "carol", "dave", "erin", "frank", "gina", "hank", "ivan", "jill", "kim", "liam", "mona", "nick", "olga", "pete", "quinn", "rosa", "sam", "tara"}
	departments = []string{"engineering", "sysops", "data", "finance", "marketing", "security"}
	projects    = []string{"checkout", "search", "catalog", "payments", "ledger", "billing", "identity", "gateway", "reports", "etl",
		"ml-training", "recommendations", "inventory", "shipping", "notifications", "analytics", "frontend", "mobile-api", "crm", "warehouse"}
	apps          = []string{"web", "api", "worker", "batch", "cache", "db-proxy", "queue", "cron", "bastion", "build"}
	extras        = []Tag{{"environment", "production"}, {"cost-center", "cc-4410"}, {"team", "platform"}, {"application", "storefront"}, {"owner", "ops@example.com"}, {"backup-policy", "daily-35d"}}
	instanceTypes = []string{"t3.micro", "t3.medium", "m5.large", "m6i.xlarge", "c6g.2xlarge", "r5.large", "m7g.large"}
	canaryKV      = []Tag{{"created_by", "cody"}, {"project", "API canary"}, {"department", "sysops"}}
)

// CanaryTags returns the canary's tags in region, as the default policy expects them.
func CanaryTags(region string) []Tag {
	return append(append([]Tag(nil), canaryKV...), Tag{"Name", CanaryName(region)})
}

// CanaryName is the canary's Name tag in region.
func CanaryName(region string) string { return "api-canary-" + region }

// Instance returns instance i of the region.
func (f Fleet) Instance(r Region, i int) Instance {
	h := hash(r.Name, i)
	in := Instance{
		Region: r.Name,
		Index:  i,
		Kind:   r.KindOf(i),
		ID:     fmt.Sprintf("i-%017x", h&0xfffffffffffffff0|uint64(i)&0xf),
		State:  "running",
		Type:   instanceTypes[h%uint64(len(instanceTypes))],
		Zone:   r.Name + string(rune('a'+h%3)),
		Hash:   h,
	}
	hours := 1 + int(h%(400*24))
	in.LaunchTime = f.Base.Add(-time.Duration(hours) * time.Hour).Truncate(time.Second)
	in.AttachTime = in.LaunchTime
	switch in.Kind {
	case Canary:
		in.State = "stopped"
		in.Tags = CanaryTags(r.Name)
	case Violator:
		in.Seq = violatorSeq(r, i)
		in.Tags = ViolatorTags(in.Seq, i)
	default:
		if i%14 == 5 {
			in.State = "stopped"
		} else if i%14 == 6 {
			// Stopped and started again: the interface was attached after the launch.
			in.AttachTime = in.LaunchTime.Add(36 * time.Hour)
			if in.AttachTime.After(f.Base) {
				in.AttachTime = in.LaunchTime
			}
		}
		in.Tags = CompliantTags(i)
	}
	return in
}

// violatorSeq returns which violator of the region instance i is (0-based).
func violatorSeq(r Region, i int) int {
	n := r.Instances - 1
	return (i*r.Violators)/n - 1
}

// CompliantTags returns the tags of compliant instance i: Name, the three required keys and one
// to six others; one in ten is an Auto Scaling group member.
func CompliantTags(i int) []Tag {
	tags := []Tag{
		{"Name", fmt.Sprintf("%s-%05d", apps[i%len(apps)], i)},
		{"created_by", users[i%len(users)]},
		{"department", departments[i%len(departments)]},
		{"project", projects[(i/3)%len(projects)]},
	}
	tags = append(tags, extras[:1+i%len(extras)]...)
	if i%10 == 3 {
		tags[len(tags)-1] = Tag{"aws:autoscaling:groupName", fmt.Sprintf("%s-asg-%d", apps[i%len(apps)], i%7)}
	}
	return tags
}

// ViolatorTags returns the tags of the seq-th violator (instance i): one of four ways of breaking
// the scheme, each with Name and four to six other tags.
func ViolatorTags(seq, i int) []Tag {
	tags := []Tag{{"Name", fmt.Sprintf("scratch-%05d", i)}}
	switch seq % 4 {
	case 0: // project missing
		tags = append(tags, Tag{"created_by", users[i%len(users)]}, Tag{"department", departments[i%len(departments)]})
	case 1: // department blank
		tags = append(tags, Tag{"created_by", users[i%len(users)]}, Tag{"department", "  "}, Tag{"project", projects[i%len(projects)]})
	case 2: // created_by and project missing
		tags = append(tags, Tag{"department", departments[i%len(departments)]})
	default: // nothing required at all
	}
	return append(tags, extras[:4+seq%3]...)
}

func hash(region string, i int) uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%d", region, i)
	return h.Sum64()
}

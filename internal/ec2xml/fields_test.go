package ec2xml_test

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/awsaudit/awsaudit/enforcer"
	"github.com/awsaudit/awsaudit/internal/ec2xml"
)

// fill sets every exported field reachable from v — through pointers, structures and slices —
// with values drawn from rng: pointers set, slices of one to three elements, strings non-empty,
// integers 0 or 1 (so a branch on an index goes both ways), times in 2001-2033. A kind it does
// not know fails t, so a new kind of field in the SDK's types cannot go unfilled.
func fill(t *testing.T, rng *rand.Rand, v reflect.Value, depth int) {
	t.Helper()
	if depth > 30 {
		t.Fatalf("%s: nested too deep", v.Type())
	}
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(t, rng, v.Elem(), depth+1)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Unix(1e9+rng.Int64N(1e9), 0).UTC()))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(t, rng, v.Field(i), depth+1)
			}
		}
	case reflect.Slice:
		n := 1 + rng.IntN(3)
		s := reflect.MakeSlice(v.Type(), n, n)
		for i := range n {
			fill(t, rng, s.Index(i), depth+1)
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(t, rng, k, depth+1)
		fill(t, rng, e, depth+1)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d", rng.IntN(1000)))
	case reflect.Bool:
		v.SetBool(rng.IntN(2) == 1)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(rng.Int64N(2))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(rng.Uint64N(2))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(rng.Float64())
	default:
		t.Fatalf("%s: cannot fill a %s", v.Type(), v.Kind())
	}
}

// fullOutput is a DescribeInstancesOutput with every field filled.
func fullOutput(t *testing.T, seed uint64) *ec2.DescribeInstancesOutput {
	t.Helper()
	out := &ec2.DescribeInstancesOutput{}
	fill(t, rand.New(rand.NewPCG(seed, 1)), reflect.ValueOf(out).Elem(), 0)
	return out
}

// TestFromEC2ReadsOnlyWhatDecodeFills fills every field of the SDK's instances, and checks that
// enforcer.FromEC2 makes the same of them as of what project keeps (the fields Decode fills):
// a field FromEC2 starts to read that Decode does not fill fails here, whatever the fixtures hold.
func TestFromEC2ReadsOnlyWhatDecodeFills(t *testing.T) {
	primary := 0
	for seed := range uint64(300) {
		full := fullOutput(t, seed)
		kept := project(full)
		if reflect.DeepEqual(full.Reservations, kept.Reservations) {
			t.Fatal("project kept every field")
		}
		for i, r := range full.Reservations {
			for j := range r.Instances {
				want := enforcer.FromEC2("r", &r.Instances[j])
				got := enforcer.FromEC2("r", &kept.Reservations[i].Instances[j])
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("seed %d: FromEC2 of the fields Decode fills is\n%+v\nof every field\n%+v", seed, got, want)
				}
				if want.ID == "" || want.State == "" || want.AvailabilityZone == "" || want.LaunchTime.IsZero() || len(want.Tags) == 0 {
					t.Fatalf("seed %d: FromEC2 read little of a full instance: %+v", seed, want)
				}
				if !want.AttachTime.IsZero() {
					primary++
				}
			}
		}
	}
	if primary == 0 {
		t.Error("no instance had a primary interface")
	}
}

// TestProjectKeepsTheFieldsRead checks that project, by which the tests compare Decode with the
// SDK, keeps exactly the fields decode.go fills (by the table TestShapesOfTheFieldsRead holds to
// the SDK's deserializers).
func TestProjectKeepsTheFieldsRead(t *testing.T) {
	kept := map[string]bool{}
	setFields(reflect.ValueOf(project(fullOutput(t, 1))).Elem(), "", kept)
	want := ec2xml.FieldsReadPaths()
	got := slices.Sorted(maps.Keys(kept))
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("project keeps\n%q\ndecode.go fills\n%q", got, want)
	}
}

// setFields records in set the dotted paths of the exported fields of v that are not zero; a
// slice's elements share its path.
func setFields(v reflect.Value, prefix string, set map[string]bool) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			setFields(v.Elem(), prefix, set)
		}
	case reflect.Slice:
		for i := range v.Len() {
			setFields(v.Index(i), prefix, set)
		}
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			return
		}
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if f.IsExported() && !v.Field(i).IsZero() {
				set[prefix+f.Name] = true
				setFields(v.Field(i), prefix+f.Name+".", set)
			}
		}
	}
}

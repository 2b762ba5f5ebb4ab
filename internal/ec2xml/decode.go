package ec2xml

import (
	"bytes"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	smithytime "github.com/aws/smithy-go/time"
)

// rootName is the root element of a DescribeInstances answer.
const rootName = "DescribeInstancesResponse"

// declarations are the XML declarations Decode accepts at the start of a body.
var declarations = [][]byte{
	[]byte(`<?xml version="1.0" encoding="UTF-8"?>`),
	[]byte(`<?xml version="1.0" encoding="utf-8"?>`),
	[]byte(`<?xml version="1.0"?>`),
}

// Decode reads a successful DescribeInstances answer into the fields awsaudit reads (see the
// package documentation); every other field stays unset. It fails with a *SyntaxError on
// anything outside the subset of XML it reads, and with the SDK's own parse error on a value
// the SDK would refuse: then the SDK's deserializer must read the body.
func Decode(body []byte) (*ec2.DescribeInstancesOutput, error) {
	if err := checkChars(body); err != nil {
		return nil, err
	}
	s := &scanner{b: body}
	for _, d := range declarations {
		if bytes.HasPrefix(body, d) {
			s.p = len(d)
			break
		}
	}
	if err := s.misc(); err != nil {
		return nil, err
	}
	if s.p+1 >= len(body) || body[s.p] != '<' || !isNameStart(body[s.p+1]) {
		return nil, s.fail("expected the root element")
	}
	name, empty, err := s.startTag()
	if err != nil {
		return nil, err
	}
	if string(name) != rootName {
		return nil, s.fail("root element <" + string(name) + ">, want <" + rootName + ">")
	}
	out := &ec2.DescribeInstancesOutput{}
	if err := s.output(out, name, empty); err != nil {
		return nil, err
	}
	// The SDK stops reading at the root's end; Decode wants nothing but space and comments after.
	if err := s.misc(); err != nil {
		return nil, err
	}
	if s.p != len(body) {
		return nil, s.fail("content after the root element")
	}
	return out, nil
}

// The methods below read the structures that hold the fields awsaudit reads. Each mirrors the
// SDK's deserializer of its shape: names matched case-insensitively, a structure met again
// merged into the first, a list met again appended to, a simple value met again replacing the
// first, a list present but empty an empty (not nil) slice. Every other member goes through
// member, which checks it as the SDK would parse it.

func (s *scanner) output(out *ec2.DescribeInstancesOutput, name []byte, empty bool) error {
	return s.children(name, empty, func(child, low []byte, empty bool) error {
		switch string(low) {
		case "nexttoken":
			v, err := s.value(child, empty)
			if err != nil {
				return err
			}
			out.NextToken = ptr(string(v))
			return nil
		case "reservationset":
			return list(s, &out.Reservations, child, empty, s.reservation)
		}
		return s.member(shapeDescribeInstancesOutput, low, child, empty)
	})
}

func (s *scanner) reservation(r *types.Reservation, name []byte, empty bool) error {
	return s.children(name, empty, func(child, low []byte, empty bool) error {
		if string(low) == "instancesset" {
			return list(s, &r.Instances, child, empty, s.instance)
		}
		return s.member(shapeReservation, low, child, empty)
	})
}

func (s *scanner) instance(in *types.Instance, name []byte, empty bool) error {
	return s.children(name, empty, func(child, low []byte, empty bool) error {
		switch string(low) {
		case "instanceid":
			v, err := s.value(child, empty)
			if err != nil {
				return err
			}
			in.InstanceId = ptr(string(v))
			return nil
		case "instancestate":
			if in.State == nil {
				in.State = &types.InstanceState{}
			}
			return s.state(in.State, child, empty)
		case "launchtime":
			t, err := s.time(child, empty)
			in.LaunchTime = t
			return err
		case "placement":
			if in.Placement == nil {
				in.Placement = &types.Placement{}
			}
			return s.placement(in.Placement, child, empty)
		case "tagset":
			return list(s, &in.Tags, child, empty, s.tag)
		case "networkinterfaceset":
			return list(s, &in.NetworkInterfaces, child, empty, s.networkInterface)
		}
		return s.member(shapeInstance, low, child, empty)
	})
}

func (s *scanner) state(st *types.InstanceState, name []byte, empty bool) error {
	return s.children(name, empty, func(child, low []byte, empty bool) error {
		if string(low) == "name" {
			v, err := s.value(child, empty)
			if err != nil {
				return err
			}
			st.Name = types.InstanceStateName(v)
			return nil
		}
		return s.member(shapeInstanceState, low, child, empty)
	})
}

func (s *scanner) placement(p *types.Placement, name []byte, empty bool) error {
	return s.children(name, empty, func(child, low []byte, empty bool) error {
		if string(low) == "availabilityzone" {
			v, err := s.value(child, empty)
			if err != nil {
				return err
			}
			p.AvailabilityZone = ptr(string(v))
			return nil
		}
		return s.member(shapePlacement, low, child, empty)
	})
}

func (s *scanner) tag(t *types.Tag, name []byte, empty bool) error {
	return s.children(name, empty, func(child, low []byte, empty bool) error {
		switch string(low) {
		case "key":
			v, err := s.value(child, empty)
			if err != nil {
				return err
			}
			t.Key = ptr(string(v))
			return nil
		case "value":
			v, err := s.value(child, empty)
			if err != nil {
				return err
			}
			t.Value = ptr(string(v))
			return nil
		}
		return s.member(shapeTag, low, child, empty)
	})
}

func (s *scanner) networkInterface(ni *types.InstanceNetworkInterface, name []byte, empty bool) error {
	return s.children(name, empty, func(child, low []byte, empty bool) error {
		if string(low) == "attachment" {
			if ni.Attachment == nil {
				ni.Attachment = &types.InstanceNetworkInterfaceAttachment{}
			}
			return s.attachment(ni.Attachment, child, empty)
		}
		return s.member(shapeInstanceNetworkInterface, low, child, empty)
	})
}

func (s *scanner) attachment(a *types.InstanceNetworkInterfaceAttachment, name []byte, empty bool) error {
	return s.children(name, empty, func(child, low []byte, empty bool) error {
		switch string(low) {
		case "attachtime":
			t, err := s.time(child, empty)
			a.AttachTime = t
			return err
		case "deviceindex":
			n, err := s.int32(child, empty)
			a.DeviceIndex = n
			return err
		case "networkcardindex":
			n, err := s.int32(child, empty)
			a.NetworkCardIndex = n
			return err
		}
		return s.member(shapeInstanceNetworkInterfaceAttachment, low, child, empty)
	})
}

// children calls f for each child element of name (its start tag read), with its name, the
// name in lower case and whether it is self-closing; f reads the child whole.
func (s *scanner) children(name []byte, empty bool, f func(child, low []byte, empty bool) error) error {
	if empty {
		return nil
	}
	if err := s.enter(); err != nil {
		return err
	}
	for {
		child, cempty, done, err := s.child(name)
		if err != nil {
			return err
		}
		if done {
			s.leave()
			return nil
		}
		if err := f(child, s.lower(child), cempty); err != nil {
			return err
		}
	}
}

// list reads a list element into *l as the SDK does: each <item> (any case) read by item into
// a new element appended to *l, other children skipped, *l an empty slice when it was nil.
func list[T any](s *scanner, l *[]T, name []byte, empty bool, item func(*T, []byte, bool) error) error {
	if *l == nil {
		*l = make([]T, 0)
	}
	return s.children(name, empty, func(child, low []byte, empty bool) error {
		if string(low) != "item" {
			return s.skip(child, empty)
		}
		var v T
		if err := item(&v, child, empty); err != nil {
			return err
		}
		*l = append(*l, v)
		return nil
	})
}

// time reads a timestamp as the SDK does.
func (s *scanner) time(name []byte, empty bool) (*time.Time, error) {
	v, err := s.value(name, empty)
	if err != nil {
		return nil, err
	}
	t, err := smithytime.ParseDateTime(string(v))
	if err != nil {
		return nil, s.badValue(name, v, kTime)
	}
	return &t, nil
}

// int32 reads an integer as the SDK does: parsed as 64 bits, converted to 32.
func (s *scanner) int32(name []byte, empty bool) (*int32, error) {
	v, err := s.value(name, empty)
	if err != nil {
		return nil, err
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return nil, s.badValue(name, v, kInt)
	}
	return ptr(int32(n)), nil
}

// member checks the child element name (lower-cased low) of a structure of shape sh as the SDK
// would read it, and drops it: a member the SDK knows is checked by its kind, any other
// element skipped.
func (s *scanner) member(sh shapeID, low, name []byte, empty bool) error {
	m, ok := shapes[sh].members[string(low)]
	if !ok {
		return s.skip(name, empty)
	}
	return s.check(m, name, empty)
}

// check reads an element of kind m and drops it, failing where the SDK's deserializer would.
func (s *scanner) check(m member, name []byte, empty bool) error {
	switch m.kind {
	case kStruct:
		return s.children(name, empty, func(child, low []byte, empty bool) error {
			return s.member(m.shape, low, child, empty)
		})
	case kList:
		item := shapes[m.shape].item
		return s.children(name, empty, func(child, low []byte, empty bool) error {
			if string(low) != "item" {
				return s.skip(child, empty)
			}
			return s.check(item, child, empty)
		})
	}
	v, err := s.value(name, empty)
	if err != nil {
		return err
	}
	switch m.kind {
	case kInt:
		_, err = strconv.ParseInt(string(v), 10, 64)
	case kBool:
		_, err = strconv.ParseBool(string(v))
	case kFloat:
		_, err = strconv.ParseFloat(string(v), 64)
	case kTime:
		_, err = smithytime.ParseDateTime(string(v))
	}
	if err != nil {
		return s.badValue(name, v, m.kind)
	}
	return nil
}

// badValue is the error for a value the SDK would not parse as k.
func (s *scanner) badValue(name, v []byte, k kind) error {
	return s.fail(fmt.Sprintf("<%s> %q is not %s", name, v[:min(len(v), 40)], kindNames[k]))
}

var kindNames = map[kind]string{kInt: "an integer", kBool: "a boolean", kFloat: "a number", kTime: "a timestamp"}

func ptr[T any](v T) *T { return &v }

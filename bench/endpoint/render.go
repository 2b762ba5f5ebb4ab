package endpoint

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strconv"
	"time"

	"github.com/awsaudit/awsaudit/bench/fleet"
)

// region is one region's rendered instances: every instance's <item> of the reservationSet, one
// after the other, and where each starts, so a page of any size is a slice of it.
type region struct {
	name   string
	items  []byte
	starts []int // len = instances+1
	states map[string]bool
}

// page returns the rendered reservation items from instance from (inclusive) to to (exclusive).
func (r *region) page(from, to int) []byte { return r.items[r.starts[from]:r.starts[to]] }

func (r *region) instances() int { return len(r.starts) - 1 }

// render renders every instance of the fleet's region r.
func render(f fleet.Fleet, r fleet.Region) *region {
	out := &region{name: r.Name, starts: make([]int, 0, r.Instances+1), states: map[string]bool{}}
	buf := make([]byte, 0, r.Instances*5600)
	for i := range r.Instances {
		out.starts = append(out.starts, len(buf))
		in := f.Instance(r, i)
		out.states[in.State] = true
		buf = appendReservation(buf, &in)
	}
	out.starts = append(out.starts, len(buf))
	out.items = buf
	return out
}

// RenderInstance returns one instance's reservation <item>, as a DescribeInstances page holds it.
func RenderInstance(in *fleet.Instance) []byte { return appendReservation(nil, in) }

const awsTime = "2006-01-02T15:04:05.000Z"

// appendReservation renders one reservation holding one instance, with the fields and the
// indentation EC2 answers with (about 5.5 KB an instance).
func appendReservation(b []byte, in *fleet.Instance) []byte {
	h := in.Hash
	ip := fmt.Sprintf("10.%d.%d.%d", (h>>8)&0xff, (h>>16)&0xff, 1+(h>>24)%254)
	dns := fmt.Sprintf("ip-10-%d-%d-%d.%s.compute.internal", (h>>8)&0xff, (h>>16)&0xff, 1+(h>>24)%254, in.Region)
	subnet := fmt.Sprintf("subnet-0%016x", h>>3)
	vpc := fmt.Sprintf("vpc-0%016x", (h>>40)|0xa000)
	sg := fmt.Sprintf("sg-0%016x", (h>>36)|0xb000)
	launch := in.LaunchTime.UTC().Format(awsTime)
	attach := in.AttachTime.UTC().Format(awsTime)
	code := 16
	if in.State == "stopped" {
		code = 80
	}
	b = fmt.Appendf(b, `
        <item>
            <reservationId>r-0%016x</reservationId>
            <ownerId>%s</ownerId>
            <groupSet/>
            <instancesSet>
                <item>
                    <instanceId>%s</instanceId>
                    <imageId>ami-0%016x</imageId>
                    <instanceState>
                        <code>%d</code>
                        <name>%s</name>
                    </instanceState>
                    <privateDnsName>%s</privateDnsName>
                    <dnsName/>
                    <reason>%s</reason>
                    <keyName>ops-2025</keyName>
                    <amiLaunchIndex>0</amiLaunchIndex>
                    <productCodes/>
                    <instanceType>%s</instanceType>
                    <launchTime>%s</launchTime>
                    <placement>
                        <availabilityZoneId>%s-az%d</availabilityZoneId>
                        <availabilityZone>%s</availabilityZone>
                        <groupName/>
                        <tenancy>default</tenancy>
                    </placement>
                    <monitoring>
                        <state>disabled</state>
                    </monitoring>
                    <subnetId>%s</subnetId>
                    <vpcId>%s</vpcId>
                    <privateIpAddress>%s</privateIpAddress>
                    <sourceDestCheck>true</sourceDestCheck>
                    <groupSet>
                        <item>
                            <groupId>%s</groupId>
                            <groupName>app-%d</groupName>
                        </item>
                    </groupSet>`,
		h>>4, fleet.AccountID, in.ID, (h>>20)&0xffff, code, in.State, dns, reason(in), in.Type, launch,
		in.Region, 1+h%3, in.Zone, subnet, vpc, ip, sg, h%50)
	if in.State == "stopped" {
		b = append(b, `
                    <stateReason>
                        <code>Client.UserInitiatedShutdown</code>
                        <message>Client.UserInitiatedShutdown: User initiated shutdown</message>
                    </stateReason>`...)
	}
	b = fmt.Appendf(b, `
                    <architecture>x86_64</architecture>
                    <rootDeviceType>ebs</rootDeviceType>
                    <rootDeviceName>/dev/xvda</rootDeviceName>
                    <blockDeviceMapping>
                        <item>
                            <deviceName>/dev/xvda</deviceName>
                            <ebs>
                                <volumeId>vol-0%016x</volumeId>
                                <status>attached</status>
                                <attachTime>%s</attachTime>
                                <deleteOnTermination>true</deleteOnTermination>
                            </ebs>
                        </item>
                    </blockDeviceMapping>
                    <virtualizationType>hvm</virtualizationType>
                    <clientToken>%08x-%04x-4%03x-8%03x-%012x</clientToken>
                    <tagSet>`,
		h>>2, launch, uint32(h), uint16(h>>32), (h>>48)&0xfff, (h>>36)&0xfff, h&0xffffffffffff)
	for _, t := range in.Tags {
		b = append(b, `
                        <item>
                            <key>`...)
		b = appendEscaped(b, t.Key)
		b = append(b, `</key>
                            <value>`...)
		b = appendEscaped(b, t.Value)
		b = append(b, `</value>
                        </item>`...)
	}
	b = fmt.Appendf(b, `
                    </tagSet>
                    <hypervisor>xen</hypervisor>
                    <networkInterfaceSet>
                        <item>
                            <networkInterfaceId>eni-0%016x</networkInterfaceId>
                            <subnetId>%s</subnetId>
                            <vpcId>%s</vpcId>
                            <description/>
                            <ownerId>%s</ownerId>
                            <status>in-use</status>
                            <macAddress>0e:%02x:%02x:%02x:%02x:%02x</macAddress>
                            <privateIpAddress>%s</privateIpAddress>
                            <privateDnsName>%s</privateDnsName>
                            <sourceDestCheck>true</sourceDestCheck>
                            <groupSet>
                                <item>
                                    <groupId>%s</groupId>
                                    <groupName>app-%d</groupName>
                                </item>
                            </groupSet>
                            <attachment>
                                <attachmentId>eni-attach-0%016x</attachmentId>
                                <deviceIndex>0</deviceIndex>
                                <status>attached</status>
                                <attachTime>%s</attachTime>
                                <deleteOnTermination>true</deleteOnTermination>
                                <networkCardIndex>0</networkCardIndex>
                            </attachment>
                            <privateIpAddressesSet>
                                <item>
                                    <privateIpAddress>%s</privateIpAddress>
                                    <privateDnsName>%s</privateDnsName>
                                    <primary>true</primary>
                                </item>
                            </privateIpAddressesSet>
                            <ipv6AddressesSet/>
                            <interfaceType>interface</interfaceType>
                        </item>
                    </networkInterfaceSet>
                    <iamInstanceProfile>
                        <arn>arn:aws:iam::%s:instance-profile/app-%d</arn>
                        <id>AIPA%016X</id>
                    </iamInstanceProfile>
                    <ebsOptimized>true</ebsOptimized>
                    <enaSupport>true</enaSupport>
                    <cpuOptions>
                        <coreCount>%d</coreCount>
                        <threadsPerCore>2</threadsPerCore>
                    </cpuOptions>
                    <capacityReservationSpecification>
                        <capacityReservationPreference>open</capacityReservationPreference>
                    </capacityReservationSpecification>
                    <hibernationOptions>
                        <configured>false</configured>
                    </hibernationOptions>
                    <enclaveOptions>
                        <enabled>false</enabled>
                    </enclaveOptions>
                    <metadataOptions>
                        <state>applied</state>
                        <httpTokens>required</httpTokens>
                        <httpPutResponseHopLimit>2</httpPutResponseHopLimit>
                        <httpEndpoint>enabled</httpEndpoint>
                        <httpProtocolIpv6>disabled</httpProtocolIpv6>
                        <instanceMetadataTags>disabled</instanceMetadataTags>
                    </metadataOptions>
                    <maintenanceOptions>
                        <autoRecovery>default</autoRecovery>
                    </maintenanceOptions>
                    <privateDnsNameOptions>
                        <hostnameType>ip-name</hostnameType>
                        <enableResourceNameDnsARecord>false</enableResourceNameDnsARecord>
                        <enableResourceNameDnsAAAARecord>false</enableResourceNameDnsAAAARecord>
                    </privateDnsNameOptions>
                    <bootMode>uefi-preferred</bootMode>
                    <currentInstanceBootMode>legacy-bios</currentInstanceBootMode>
                    <platformDetails>Linux/UNIX</platformDetails>
                    <usageOperation>RunInstances</usageOperation>
                    <usageOperationUpdateTime>%s</usageOperationUpdateTime>
                    <networkPerformanceOptions>
                        <bandwidthWeighting>default</bandwidthWeighting>
                    </networkPerformanceOptions>
                    <operator>
                        <managed>false</managed>
                    </operator>
                </item>
            </instancesSet>
        </item>`,
		h>>5, subnet, vpc, fleet.AccountID, byte(h), byte(h>>8), byte(h>>16), byte(h>>24), byte(h>>32), ip, dns, sg, h%50,
		h>>6, attach, ip, dns, fleet.AccountID, h%50, h>>1, 1+h%4, launch)
	return b
}

func reason(in *fleet.Instance) string {
	if in.State != "stopped" {
		return ""
	}
	return "User initiated (" + in.LaunchTime.Add(2*time.Hour).UTC().Format("2006-01-02 15:04:05 GMT") + ")"
}

func appendEscaped(b []byte, s string) []byte {
	var w bytes.Buffer
	_ = xml.EscapeText(&w, []byte(s))
	return append(b, w.Bytes()...)
}

// pageHead and pageTail frame a DescribeInstances page.
func pageHead(requestID string) []byte {
	return []byte(`<?xml version="1.0" encoding="UTF-8"?>
<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
    <requestId>` + requestID + `</requestId>
    <reservationSet>`)
}

func pageTail(nextToken string) []byte {
	b := []byte(`
    </reservationSet>`)
	if nextToken != "" {
		b = append(b, "\n    <nextToken>"+nextToken+"</nextToken>"...)
	}
	return append(b, "\n</DescribeInstancesResponse>\n"...)
}

// Page returns page number n (0-based) of size instances of the region of f, as the endpoint
// serves it, and whether it is the last. It renders the region on each call: for benchmarks that
// decode one page, not for serving.
func Page(f fleet.Fleet, regionName string, n, size int) ([]byte, bool) {
	for _, r := range f.Regions {
		if r.Name != regionName {
			continue
		}
		rr := render(f, r)
		from := min(n*size, rr.instances())
		to := min(from+size, rr.instances())
		token := ""
		if to < rr.instances() {
			token = strconv.Itoa(to)
		}
		b := pageHead("bench-page")
		b = append(b, rr.page(from, to)...)
		return append(b, pageTail(token)...), token == ""
	}
	return nil, true
}

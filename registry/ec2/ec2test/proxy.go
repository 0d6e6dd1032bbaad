package ec2test

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// FaultKind is what an injected fault does to a call.
type FaultKind int

// Faults the proxy can inject.
const (
	// Throttle answers 503 RequestLimitExceeded, which the SDK retries.
	Throttle FaultKind = iota + 1
	// AccessDenied answers 403 UnauthorizedOperation.
	AccessDenied
	// Drop closes the connection without an answer.
	Drop
)

// Fault injects Kind into calls of Action ("" any) in Region ("" any),
// Times times (0: every call).
type Fault struct {
	Action string
	Region string
	Kind   FaultKind
	Times  int
}

// Proxy is an EC2 endpoint in front of moto: it answers the calls moto
// lacks (EnableImageDeprecation, DisableImage/EnableImage,
// Enable/DisableImageDeregistrationProtection, Get/Enable/
// DisableImageBlockPublicAccess), adds the state they set to
// DescribeImages answers, splits DescribeImages into pages honouring
// MaxResults and NextToken, counts calls by action, and injects faults.
// Everything else goes to moto unchanged.
type Proxy struct {
	*httptest.Server
	moto *url.URL
	rp   *httputil.ReverseProxy

	mu          sync.Mutex
	calls       map[string]int
	faults      []*Fault
	deprecated  map[string]time.Time // region/image id
	disabled    map[string]bool
	protected   map[string]bool
	blockPublic map[string]string // region → state
	cursors     map[string][]imageItem
	seq         atomic.Int64
}

// NewProxy starts a proxy in front of the moto at motoURL; Close stops it.
func NewProxy(motoURL string) (*Proxy, error) {
	u, err := url.Parse(motoURL)
	if err != nil {
		return nil, err
	}
	p := &Proxy{moto: u, rp: httputil.NewSingleHostReverseProxy(u), calls: map[string]int{},
		deprecated: map[string]time.Time{}, disabled: map[string]bool{}, protected: map[string]bool{},
		blockPublic: map[string]string{}, cursors: map[string][]imageItem{}}
	p.Server = httptest.NewServer(p)
	return p, nil
}

// Inject adds a fault.
func (p *Proxy) Inject(f Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = append(p.faults, &f)
}

// ClearFaults removes every fault.
func (p *Proxy) ClearFaults() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = nil
}

// Calls returns the number of calls received per action (faulted ones too).
func (p *Proxy) Calls() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int, len(p.calls))
	for k, v := range p.calls {
		out[k] = v
	}
	return out
}

// ResetCalls zeroes the counts.
func (p *Proxy) ResetCalls() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = map[string]int{}
}

var regionRE = regexp.MustCompile(`Credential=[^/]+/[0-9]+/([a-z0-9-]+)/`)

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	form, _ := url.ParseQuery(string(body))
	if r.Method == http.MethodGet {
		form = r.URL.Query()
	}
	action := form.Get("Action")
	region := "us-east-1"
	if m := regionRE.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
		region = m[1]
	}
	p.mu.Lock()
	p.calls[action]++
	var fault *Fault
	for _, f := range p.faults {
		if (f.Action == "" || f.Action == action) && (f.Region == "" || f.Region == region) && f.Times >= 0 {
			fault = f
			if f.Times > 0 {
				if f.Times--; f.Times == 0 {
					f.Times = -1 // spent
				}
			}
			break
		}
	}
	p.mu.Unlock()
	if fault != nil {
		switch fault.Kind {
		case Throttle:
			p.fail(w, http.StatusServiceUnavailable, "RequestLimitExceeded", "Request limit exceeded.")
		case AccessDenied:
			p.fail(w, http.StatusForbidden, "UnauthorizedOperation", "You are not authorized to perform this operation.")
		case Drop:
			if hj, ok := w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					c.Close()
					return
				}
			}
			p.fail(w, http.StatusBadGateway, "InternalError", "dropped")
		}
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	key := func(id string) string { return region + "/" + id }
	switch action {
	case "DescribeImages":
		p.describeImages(w, r, form, region)
	case "EnableImageDeprecation":
		if !p.exists(r, form.Get("ImageId")) {
			p.notFound(w, form.Get("ImageId"))
			return
		}
		t, err := time.Parse(time.RFC3339Nano, form.Get("DeprecateAt"))
		if err != nil {
			p.fail(w, http.StatusBadRequest, "InvalidParameterValue", "DeprecateAt: "+err.Error())
			return
		}
		p.set(func() { p.deprecated[key(form.Get("ImageId"))] = t.UTC().Truncate(time.Minute) })
		p.ok(w, action, "<return>true</return>")
	case "DisableImageDeprecation":
		p.set(func() { delete(p.deprecated, key(form.Get("ImageId"))) })
		p.ok(w, action, "<return>true</return>")
	case "DisableImage", "EnableImage":
		if !p.exists(r, form.Get("ImageId")) {
			p.notFound(w, form.Get("ImageId"))
			return
		}
		p.set(func() { p.disabled[key(form.Get("ImageId"))] = action == "DisableImage" })
		p.ok(w, action, "<return>true</return>")
	case "EnableImageDeregistrationProtection", "DisableImageDeregistrationProtection":
		if !p.exists(r, form.Get("ImageId")) {
			p.notFound(w, form.Get("ImageId"))
			return
		}
		p.set(func() { p.protected[key(form.Get("ImageId"))] = action == "EnableImageDeregistrationProtection" })
		p.ok(w, action, "<return>true</return>")
	case "DeregisterImage":
		var prot bool
		p.set(func() { prot = p.protected[key(form.Get("ImageId"))] })
		if prot {
			p.fail(w, http.StatusBadRequest, "InvalidParameterValue", "The AMI has deregistration protection enabled")
			return
		}
		p.rp.ServeHTTP(w, r)
	case "GetImageBlockPublicAccessState":
		var st string
		p.set(func() { st = p.blockPublic[region] })
		if st == "" {
			st = "unblocked"
		}
		p.ok(w, action, "<imageBlockPublicAccessState>"+st+"</imageBlockPublicAccessState><managedBy>account</managedBy>")
	case "EnableImageBlockPublicAccess", "DisableImageBlockPublicAccess":
		st := form.Get("ImageBlockPublicAccessState")
		if action == "DisableImageBlockPublicAccess" {
			st = "unblocked"
		}
		p.set(func() { p.blockPublic[region] = st })
		p.ok(w, action, "<imageBlockPublicAccessState>"+st+"</imageBlockPublicAccessState>")
	default:
		p.rp.ServeHTTP(w, r)
	}
}

func (p *Proxy) set(f func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f()
}

func (p *Proxy) requestID() string { return fmt.Sprintf("proxy-%08d", p.seq.Add(1)) }

func (p *Proxy) ok(w http.ResponseWriter, action, inner string) {
	id := p.requestID()
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("x-amzn-RequestId", id)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><%sResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>%s</requestId>%s</%sResponse>`, action, id, inner, action)
}

func (p *Proxy) fail(w http.ResponseWriter, status int, code, msg string) {
	id := p.requestID()
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("x-amzn-RequestId", id)
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>%s</Code><Message>%s</Message></Error></Errors><RequestID>%s</RequestID></Response>`, code, xmlEscape(msg), id)
}

func (p *Proxy) notFound(w http.ResponseWriter, id string) {
	p.fail(w, http.StatusBadRequest, "InvalidAMIID.NotFound", "The image id '["+id+"]' does not exist")
}

func xmlEscape(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// motoCall sends form to moto with r's headers (moto reads the region and
// service from the Authorization header and checks no signature).
func (p *Proxy) motoCall(r *http.Request, form url.Values) ([]byte, int, http.Header, error) {
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, p.moto.String()+"/", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, 0, nil, err
	}
	for k, v := range r.Header {
		if k != "Content-Length" {
			req.Header[k] = v
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return b, resp.StatusCode, resp.Header, err
}

func (p *Proxy) exists(r *http.Request, id string) bool {
	b, status, _, err := p.motoCall(r, url.Values{"Action": {"DescribeImages"}, "Version": {"2016-11-15"}, "ImageId.1": {id}})
	return err == nil && status == 200 && bytes.Contains(b, []byte("<imageId>"+id+"</imageId>"))
}

type imageItem struct {
	ID    string
	Inner string
}

var (
	imageIDRE    = regexp.MustCompile(`<imageId>(ami-[0-9a-z]+)</imageId>`)
	imageStateRE = regexp.MustCompile(`<imageState>[a-z]*</imageState>`)
)

// describeImages asks moto for every image the call selects, applies the
// proxy's state, and answers one page: MaxResults items from NextToken's
// offset, over a snapshot of the list taken at the first page (a cursor,
// as EC2 keeps one).
func (p *Proxy) describeImages(w http.ResponseWriter, r *http.Request, form url.Values, region string) {
	var items []imageItem
	token := form.Get("NextToken")
	if token != "" {
		p.set(func() { items = p.cursors[cursorKey(token)] })
		if items == nil {
			p.fail(w, http.StatusBadRequest, "InvalidParameterValue", "invalid NextToken")
			return
		}
	} else {
		q, snapFilter := motoFilters(form)
		b, status, hdr, err := p.motoCall(r, q)
		if err != nil {
			p.fail(w, http.StatusBadGateway, "InternalError", err.Error())
			return
		}
		if status != 200 {
			for k, v := range hdr {
				w.Header()[k] = v
			}
			w.WriteHeader(status)
			w.Write(b)
			return
		}
		var resp struct {
			Items []struct {
				Inner string `xml:",innerxml"`
			} `xml:"imagesSet>item"`
		}
		if err := xml.Unmarshal(b, &resp); err != nil {
			p.fail(w, http.StatusBadGateway, "InternalError", "moto's DescribeImages: "+err.Error())
			return
		}
		includeDisabled := form.Get("IncludeDisabled") == "true"
		p.mu.Lock()
		for _, it := range resp.Items {
			m := imageIDRE.FindStringSubmatch(it.Inner)
			if m == nil {
				continue
			}
			k := region + "/" + m[1]
			inner := it.Inner
			if snapFilter != nil && !slices.ContainsFunc(snapFilter, func(s string) bool { return strings.Contains(inner, "<snapshotId>"+s+"</snapshotId>") }) {
				continue
			}
			if p.disabled[k] {
				if !includeDisabled {
					continue
				}
				inner = imageStateRE.ReplaceAllString(inner, "<imageState>disabled</imageState>")
			}
			if t, ok := p.deprecated[k]; ok {
				inner += "<deprecationTime>" + t.Format("2006-01-02T15:04:05.000Z") + "</deprecationTime>"
			}
			if p.protected[k] {
				inner += "<deregistrationProtection>enabled</deregistrationProtection>"
			}
			items = append(items, imageItem{ID: m[1], Inner: inner})
		}
		p.mu.Unlock()
		sort.Slice(items, func(i, j int) bool { return items[i].ID < items[j].ID })
	}
	off := 0
	if token != "" {
		off, _ = strconv.Atoi(token[strings.LastIndex(token, "@")+1:])
	}
	n := len(items) - off
	if mr, err := strconv.Atoi(form.Get("MaxResults")); err == nil && mr > 0 && mr < n {
		n = mr
	}
	if off > len(items) || n < 0 {
		p.fail(w, http.StatusBadRequest, "InvalidParameterValue", "invalid NextToken")
		return
	}
	var b strings.Builder
	b.WriteString("<imagesSet>")
	for _, it := range items[off : off+n] {
		b.WriteString("<item>" + it.Inner + "</item>")
	}
	b.WriteString("</imagesSet>")
	if off+n < len(items) {
		c := token
		if c == "" {
			c = fmt.Sprintf("c%d", p.seq.Add(1))
			p.set(func() { p.cursors[c] = items })
		} else {
			c = cursorKey(token)
		}
		b.WriteString("<nextToken>" + c + "@" + strconv.Itoa(off+n) + "</nextToken>")
	} else if token != "" {
		p.set(func() { delete(p.cursors, cursorKey(token)) })
	}
	p.ok(w, "DescribeImages", b.String())
}

// motoFilters returns the DescribeImages parameters to send moto: without
// paging and the flags moto does not know, and without the
// block-device-mapping.snapshot-id filter, which moto lacks and the proxy
// applies itself (its values are returned; nil if absent).
func motoFilters(form url.Values) (url.Values, []string) {
	q := url.Values{}
	type filter struct {
		name   string
		values []string
	}
	var fs []filter
	var snap []string
	for i := 1; ; i++ {
		name := form.Get(fmt.Sprintf("Filter.%d.Name", i))
		if name == "" {
			break
		}
		var vals []string
		for j := 1; ; j++ {
			v, ok := form[fmt.Sprintf("Filter.%d.Value.%d", i, j)]
			if !ok {
				break
			}
			vals = append(vals, v...)
		}
		if name == "block-device-mapping.snapshot-id" {
			snap = append(snap, vals...)
			continue
		}
		fs = append(fs, filter{name, vals})
	}
	for k, v := range form {
		if k != "MaxResults" && k != "NextToken" && k != "IncludeDisabled" && k != "IncludeDeprecated" && !strings.HasPrefix(k, "Filter.") {
			q[k] = v
		}
	}
	for i, f := range fs {
		q.Set(fmt.Sprintf("Filter.%d.Name", i+1), f.name)
		for j, v := range f.values {
			q.Set(fmt.Sprintf("Filter.%d.Value.%d", i+1, j+1), v)
		}
	}
	return q, snap
}

func cursorKey(token string) string {
	if i := strings.LastIndex(token, "@"); i >= 0 {
		return token[:i]
	}
	return token
}

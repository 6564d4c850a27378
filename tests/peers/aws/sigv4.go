// SigV4 verification, strict like AWS: header auth and presigned query, credential scope
// (date, region, service), clock skew, signed host and x-amz-* headers, session tokens, and the
// payload hash (x-amz-content-sha256) checked against the body while it streams.
// Facts: AWS SigV4 docs, aws-c-auth's v4 signing suite, PROTOCOLS.md §4.
package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

const (
	amzDateFormat   = "20060102T150405Z"
	unsignedPayload = "UNSIGNED-PAYLOAD"
	emptySHA256     = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	maxSkew         = 15 * time.Minute
)

// authError is an AWS error decided by the signature check; the API layer renders it as S3 XML or
// KMS JSON. extra holds additional S3 XML elements (name → value), as AWS adds them.
type authError struct {
	status  int
	code    string
	message string
	extra   [][2]string
}

func (e *authError) Error() string { return e.code + ": " + e.message }

type credential struct {
	secret string
	token  string
}

// authResult is what a verified request carries on: the payload mode and the signing material a
// streaming payload needs.
type authResult struct {
	accessKey   string
	payloadHash string // hex, UNSIGNED-PAYLOAD or STREAMING-...
}

// uriEncode is RFC 3986 encoding: A-Za-z0-9-_.~ kept, everything else %XX (upper case); '/' kept
// when keepSlash.
func uriEncode(s string, keepSlash bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			c == '-' || c == '_' || c == '.' || c == '~' || (keepSlash && c == '/') {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// percentDecode decodes %XX only: '+' stays '+' (S3 keys and SigV4 query values).
func percentDecode(s string) (string, error) {
	return url.PathUnescape(strings.ReplaceAll(s, "+", "%2B"))
}

// rawPathQuery splits the request target as the client sent it (r.RequestURI), before Go cleans it.
func rawPathQuery(r *http.Request) (string, string) {
	uri := r.RequestURI
	if i := strings.Index(uri, "://"); i >= 0 { // absolute-form
		if j := strings.IndexByte(uri[i+3:], '/'); j >= 0 {
			uri = uri[i+3+j:]
		} else {
			uri = "/"
		}
	}
	if i := strings.IndexByte(uri, '?'); i >= 0 {
		return uri[:i], uri[i+1:]
	}
	return uri, ""
}

// canonicalURI: S3 decodes the path once and re-encodes it (no normalisation: "a//b/../c" is a
// key); other services normalise the path and encode it twice.
func canonicalURI(rawPath string, s3 bool) (string, error) {
	decoded, err := percentDecode(rawPath)
	if err != nil {
		return "", err
	}
	if s3 {
		return uriEncode(decoded, true), nil
	}
	cleaned := normalizePath(rawPath)
	segs := strings.Split(cleaned, "/")
	for i, s := range segs {
		segs[i] = uriEncode(s, false)
	}
	return strings.Join(segs, "/"), nil
}

// normalizePath removes "." and ".." segments and empty segments (RFC 3986 5.2.4, as the AWS SDKs
// do for non-S3 services); a trailing slash is kept.
func normalizePath(p string) string {
	var out []string
	for _, s := range strings.Split(p, "/") {
		switch s {
		case "", ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, s)
		}
	}
	res := "/" + strings.Join(out, "/")
	if strings.HasSuffix(p, "/") && res != "/" {
		res += "/"
	}
	return res
}

type queryParam struct{ key, value string }

// parseQuery decodes the raw query into (key, value) pairs in order; a bare "k" is ("k", "").
func parseQuery(raw string) ([]queryParam, error) {
	var out []queryParam
	if raw == "" {
		return out, nil
	}
	for _, part := range strings.Split(raw, "&") {
		if part == "" {
			continue
		}
		k, v := part, ""
		if i := strings.IndexByte(part, '='); i >= 0 {
			k, v = part[:i], part[i+1:]
		}
		dk, err := percentDecode(k)
		if err != nil {
			return nil, err
		}
		dv, err := percentDecode(v)
		if err != nil {
			return nil, err
		}
		out = append(out, queryParam{dk, dv})
	}
	return out, nil
}

func canonicalQuery(params []queryParam, skip string) string {
	enc := make([]queryParam, 0, len(params))
	for _, p := range params {
		if p.key == skip {
			continue
		}
		enc = append(enc, queryParam{uriEncode(p.key, false), uriEncode(p.value, false)})
	}
	sort.Slice(enc, func(i, j int) bool {
		if enc[i].key != enc[j].key {
			return enc[i].key < enc[j].key
		}
		return enc[i].value < enc[j].value
	})
	parts := make([]string, len(enc))
	for i, p := range enc {
		parts[i] = p.key + "=" + p.value
	}
	return strings.Join(parts, "&")
}

// headerValue is the canonical value of a signed header: Go moves Host and Transfer-Encoding out
// of r.Header, so they are taken from their fields.
func headerValue(r *http.Request, name string) (string, bool) {
	var vals []string
	switch name {
	case "host":
		if r.Host == "" {
			return "", false
		}
		vals = []string{r.Host}
	case "transfer-encoding":
		if len(r.TransferEncoding) == 0 {
			return "", false
		}
		vals = []string{strings.Join(r.TransferEncoding, ",")}
	default:
		v, ok := r.Header[http.CanonicalHeaderKey(name)]
		if !ok {
			return "", false
		}
		vals = v
	}
	for i, v := range vals {
		vals[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(vals, ","), true
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

func signingKey(secret, date, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	return hmacSHA256(k, "aws4_request")
}

func sha256Hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// sigInput is what the client told us: from the Authorization header or the presigned query.
type sigInput struct {
	accessKey, date, region, service string
	signedHeaders                    []string
	signature                        string
	amzDate                          string
	presigned                        bool
	expires                          int
	token                            string
}

type verifier struct {
	region string
	creds  map[string]credential
	now    func() time.Time
}

// parseAuthorization parses "AWS4-HMAC-SHA256 Credential=AK/d/r/s/aws4_request,
// SignedHeaders=a;b, Signature=hex".
func parseAuthorization(h string, in *sigInput) error {
	const alg = "AWS4-HMAC-SHA256 "
	if !strings.HasPrefix(h, alg) {
		return fmt.Errorf("unsupported authorization type (only AWS4-HMAC-SHA256)")
	}
	fields := map[string]string{}
	for _, part := range strings.Split(h[len(alg):], ",") {
		part = strings.TrimSpace(part)
		i := strings.IndexByte(part, '=')
		if i < 0 {
			return fmt.Errorf("malformed authorization component %q", part)
		}
		fields[part[:i]] = part[i+1:]
	}
	for _, k := range []string{"Credential", "SignedHeaders", "Signature"} {
		if fields[k] == "" {
			return fmt.Errorf("authorization header is missing %s", k)
		}
	}
	if err := parseCredential(fields["Credential"], in); err != nil {
		return err
	}
	in.signedHeaders = strings.Split(fields["SignedHeaders"], ";")
	in.signature = fields["Signature"]
	return nil
}

func parseCredential(c string, in *sigInput) error {
	parts := strings.Split(c, "/")
	if len(parts) != 5 || parts[4] != "aws4_request" {
		return fmt.Errorf("the Credential %q is malformed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\"", c)
	}
	in.accessKey, in.date, in.region, in.service = parts[0], parts[1], parts[2], parts[3]
	return nil
}

// verify checks the signature of r; body is the full body for non-S3 services (its hash is
// computed), nil for S3 (the x-amz-content-sha256 header is used and checked while streaming).
func (v *verifier) verify(r *http.Request, service string, query []queryParam, body []byte) (*authResult, *authError) {
	s3 := service == "s3"
	malformed := func(msg string) *authError {
		if s3 {
			return &authError{400, "AuthorizationHeaderMalformed", "The authorization header is malformed; " + msg, nil}
		}
		return &authError{400, "IncompleteSignatureException", msg, nil}
	}
	var in sigInput
	qget := func(k string) (string, bool) {
		for _, p := range query {
			if p.key == k {
				return p.value, true
			}
		}
		return "", false
	}
	if alg, ok := qget("X-Amz-Algorithm"); ok {
		if alg != "AWS4-HMAC-SHA256" {
			return nil, &authError{400, "AuthorizationQueryParametersError", "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"", nil}
		}
		in.presigned = true
		cred, _ := qget("X-Amz-Credential")
		sh, _ := qget("X-Amz-SignedHeaders")
		in.signature, _ = qget("X-Amz-Signature")
		in.amzDate, _ = qget("X-Amz-Date")
		exp, _ := qget("X-Amz-Expires")
		in.token, _ = qget("X-Amz-Security-Token")
		if cred == "" || sh == "" || in.signature == "" || in.amzDate == "" || exp == "" {
			return nil, &authError{400, "AuthorizationQueryParametersError", "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.", nil}
		}
		if err := parseCredential(cred, &in); err != nil {
			return nil, &authError{400, "AuthorizationQueryParametersError", err.Error(), nil}
		}
		n, err := strconv.Atoi(exp)
		if err != nil || n < 0 {
			return nil, &authError{400, "AuthorizationQueryParametersError", "X-Amz-Expires should be a number", nil}
		}
		if n > 604800 {
			return nil, &authError{400, "AuthorizationQueryParametersError", "X-Amz-Expires must be less than a week (in seconds) that is 604800", nil}
		}
		in.expires = n
		in.signedHeaders = strings.Split(sh, ";")
	} else {
		h := r.Header.Get("Authorization")
		if h == "" {
			if s3 {
				return nil, &authError{403, "AccessDenied", "Access Denied (anonymous requests are not allowed)", nil}
			}
			return nil, &authError{400, "MissingAuthenticationTokenException", "Missing Authentication Token", nil}
		}
		if err := parseAuthorization(h, &in); err != nil {
			return nil, malformed(err.Error())
		}
		in.amzDate = r.Header.Get("X-Amz-Date")
		if in.amzDate == "" {
			if d, err := http.ParseTime(r.Header.Get("Date")); err == nil {
				in.amzDate = d.UTC().Format(amzDateFormat)
			}
		}
		in.token = r.Header.Get("X-Amz-Security-Token")
	}

	cred, known := v.creds[in.accessKey]
	if !known {
		if s3 {
			return nil, &authError{403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.", [][2]string{{"AWSAccessKeyId", in.accessKey}}}
		}
		return nil, &authError{400, "UnrecognizedClientException", "The security token included in the request is invalid.", nil}
	}
	t, err := time.Parse(amzDateFormat, in.amzDate)
	if err != nil {
		if s3 {
			return nil, &authError{403, "AccessDenied", "AWS authentication requires a valid Date or x-amz-date header", nil}
		}
		return nil, &authError{400, "IncompleteSignatureException", "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.", nil}
	}
	if in.date != in.amzDate[:8] {
		return nil, malformed(fmt.Sprintf("Invalid credential date \"%s\". Date is not the same as X-Amz-Date: \"%s\".", in.date, in.amzDate[:8]))
	}
	if in.region != v.region {
		if s3 {
			return nil, &authError{400, "AuthorizationHeaderMalformed", fmt.Sprintf("The authorization header is malformed; the region '%s' is wrong; expecting '%s'", in.region, v.region), [][2]string{{"Region", v.region}}}
		}
		return nil, &authError{400, "InvalidSignatureException", fmt.Sprintf("Credential should be scoped to a valid region, not '%s'. ", in.region), nil}
	}
	if in.service != service {
		if s3 {
			return nil, malformed(fmt.Sprintf("the service '%s' is wrong; expecting 's3'", in.service))
		}
		return nil, &authError{400, "InvalidSignatureException", fmt.Sprintf("Credential should be scoped to correct service: '%s'. ", service), nil}
	}
	now := v.now()
	if in.presigned {
		if now.Before(t.Add(-maxSkew)) {
			return nil, &authError{403, "AccessDenied", "Request is not valid yet", nil}
		}
		if now.After(t.Add(time.Duration(in.expires) * time.Second)) {
			return nil, &authError{403, "AccessDenied", "Request has expired", [][2]string{{"X-Amz-Expires", strconv.Itoa(in.expires)}, {"Expires", t.Add(time.Duration(in.expires) * time.Second).Format("2006-01-02T15:04:05Z")}, {"ServerTime", now.UTC().Format("2006-01-02T15:04:05Z")}}}
		}
	} else if d := now.Sub(t); d > maxSkew || d < -maxSkew {
		if s3 {
			return nil, &authError{403, "RequestTimeTooSkewed", "The difference between the request time and the current time is too large.", [][2]string{{"RequestTime", in.amzDate}, {"ServerTime", now.UTC().Format("2006-01-02T15:04:05Z")}, {"MaxAllowedSkewMilliseconds", "900000"}}}
		}
		return nil, &authError{400, "InvalidSignatureException", fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - 15 min.)", in.amzDate, now.Add(-maxSkew).UTC().Format(amzDateFormat), now.UTC().Format(amzDateFormat)), nil}
	}

	signed := map[string]bool{}
	for _, h := range in.signedHeaders {
		if h != strings.ToLower(h) || h == "" {
			return nil, malformed(fmt.Sprintf("SignedHeaders %q must be lower-case names separated by ';'", strings.Join(in.signedHeaders, ";")))
		}
		signed[h] = true
	}
	if !signed["host"] {
		if s3 {
			return nil, &authError{403, "AccessDenied", "There were headers present in the request which were not signed", [][2]string{{"HeadersNotSigned", "host"}}}
		}
		return nil, &authError{400, "InvalidSignatureException", "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.", nil}
	}
	if s3 && !in.presigned {
		// S3 refuses x-amz-* headers that are present but not signed.
		var unsigned []string
		for k := range r.Header {
			lk := strings.ToLower(k)
			if strings.HasPrefix(lk, "x-amz-") && !signed[lk] {
				unsigned = append(unsigned, lk)
			}
		}
		if len(unsigned) > 0 {
			sort.Strings(unsigned)
			return nil, &authError{403, "AccessDenied", "There were headers present in the request which were not signed", [][2]string{{"HeadersNotSigned", strings.Join(unsigned, ", ")}}}
		}
	}
	if cred.token != "" || in.token != "" {
		tokenSigned := in.presigned || signed["x-amz-security-token"]
		if in.token != cred.token || !tokenSigned {
			if s3 {
				return nil, &authError{400, "InvalidToken", "The provided token is malformed or otherwise invalid.", nil}
			}
			return nil, &authError{400, "UnrecognizedClientException", "The security token included in the request is invalid.", nil}
		}
	}

	payload := ""
	if s3 {
		payload = r.Header.Get("X-Amz-Content-Sha256")
		if payload == "" {
			if !in.presigned {
				return nil, &authError{400, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256", nil}
			}
			payload = unsignedPayload
		}
		if !isHex64(payload) && payload != unsignedPayload && !strings.HasPrefix(payload, "STREAMING-") {
			return nil, &authError{400, "InvalidArgument", "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, or a valid sha256 value.", [][2]string{{"ArgumentName", "x-amz-content-sha256"}, {"ArgumentValue", payload}}}
		}
	} else {
		h := sha256.Sum256(body)
		payload = hex.EncodeToString(h[:])
	}

	rawPath, _ := rawPathQuery(r)
	curi, err := canonicalURI(rawPath, s3)
	if err != nil {
		return nil, malformed("the request path is not valid percent-encoding")
	}
	skip := ""
	if in.presigned {
		skip = "X-Amz-Signature"
	}
	var hdr strings.Builder
	for _, h := range in.signedHeaders {
		val, ok := headerValue(r, h)
		if !ok {
			// The client signed a header that did not arrive: nothing can match.
			return nil, v.mismatch(s3, in, "(signed header "+h+" is missing from the request)", "")
		}
		hdr.WriteString(h + ":" + val + "\n")
	}
	creq := strings.Join([]string{r.Method, curi, canonicalQuery(query, skip), hdr.String(),
		strings.Join(in.signedHeaders, ";"), payload}, "\n")
	scope := in.date + "/" + in.region + "/" + in.service + "/aws4_request"
	sts := "AWS4-HMAC-SHA256\n" + in.amzDate + "\n" + scope + "\n" + sha256Hex(creq)
	want := hex.EncodeToString(hmacSHA256(signingKey(cred.secret, in.date, in.region, in.service), sts))
	if !hmac.Equal([]byte(want), []byte(strings.ToLower(in.signature))) {
		return nil, v.mismatch(s3, in, creq, sts)
	}
	return &authResult{accessKey: in.accessKey, payloadHash: payload}, nil
}

func (v *verifier) mismatch(s3 bool, in sigInput, creq, sts string) *authError {
	if s3 {
		return &authError{403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
			[][2]string{{"AWSAccessKeyId", in.accessKey}, {"StringToSign", sts}, {"SignatureProvided", in.signature}, {"CanonicalRequest", creq}}}
	}
	return &authError{400, "InvalidSignatureException", "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.", nil}
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// hashCheckReader passes the body through and, at EOF, compares its sha256 with the signed
// x-amz-content-sha256; a mismatch surfaces as errPayloadHash from Read.
type hashCheckReader struct {
	r        io.Reader
	h        hash.Hash
	want     string
	got      string
	mismatch bool
}

type payloadHashError struct{ want, got string }

func (e *payloadHashError) Error() string {
	return "x-amz-content-sha256 mismatch: header " + e.want + ", body " + e.got
}

func (c *hashCheckReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.h.Write(p[:n])
	if err == io.EOF {
		c.got = hex.EncodeToString(c.h.Sum(nil))
		if c.got != strings.ToLower(c.want) {
			c.mismatch = true
			return n, &payloadHashError{c.want, c.got}
		}
	}
	return n, err
}

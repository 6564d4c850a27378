// The verifier against published vectors: aws-c-auth's SigV4 suite
// (tests/aws-signing-test-suite/v4/*/header-signed-request.txt, service "service") and the S3
// SigV4 examples of the Amazon S3 API reference (AKIAIOSFODNN7EXAMPLE, 20130524). Each request is
// accepted as published and refused once a byte of it changes.
package main

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
	"time"
)

const (
	suiteSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	s3DocSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

type vector struct {
	name, service, raw string
	now                time.Time
	creds              map[string]credential
}

func vectors() []vector {
	suiteNow := time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC)
	s3Now := time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)
	suite := map[string]credential{"AKIDEXAMPLE": {secret: suiteSecret}}
	s3 := map[string]credential{"AKIAIOSFODNN7EXAMPLE": {secret: s3DocSecret}}
	auth := "Authorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
	return []vector{
		{"get-vanilla", "service", "GET / HTTP/1.1\nHost:example.amazonaws.com\n" + auth +
			"SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31\nX-Amz-Date:20150830T123600Z\n\n", suiteNow, suite},
		{"get-relative-relative-normalized", "service", "GET /example1/example2/../.. HTTP/1.1\nHost:example.amazonaws.com\n" + auth +
			"SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31\nX-Amz-Date:20150830T123600Z\n\n", suiteNow, suite},
		{"get-vanilla-query-order-key-case", "service", "GET /?Param2=value2&Param1=value1 HTTP/1.1\nHost:example.amazonaws.com\n" + auth +
			"SignedHeaders=host;x-amz-date, Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500\nX-Amz-Date:20150830T123600Z\n\n", suiteNow, suite},
		{"get-vanilla-query-unreserved", "service", "GET /?-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz HTTP/1.1\nHost:example.amazonaws.com\n" + auth +
			"SignedHeaders=host;x-amz-date, Signature=9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197\nX-Amz-Date:20150830T123600Z\n\n", suiteNow, suite},
		{"get-utf8", "service", "GET /ሴ HTTP/1.1\nHost:example.amazonaws.com\n" + auth +
			"SignedHeaders=host;x-amz-date, Signature=8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85\nX-Amz-Date:20150830T123600Z\n\n", suiteNow, suite},
		{"get-header-value-trim", "service", "GET / HTTP/1.1\nHost:example.amazonaws.com\nMy-Header1: value1\nMy-Header2: \"a   b   c\"\n" + auth +
			"SignedHeaders=host;my-header1;my-header2;x-amz-date, Signature=acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736\nX-Amz-Date:20150830T123600Z\n\n", suiteNow, suite},
		{"get-vanilla-with-session-token", "service", "GET / HTTP/1.1\nHost:example.amazonaws.com\n" + auth +
			"SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8\nX-Amz-Date:20150830T123600Z\nX-Amz-Security-Token:6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267\n\n",
			suiteNow, map[string]credential{"AKIDEXAMPLE": {secret: suiteSecret, token: "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267"}}},
		{"s3-get-object-range", "s3", "GET /test.txt HTTP/1.1\nHost: examplebucket.s3.amazonaws.com\n" +
			"Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41\n" +
			"Range: bytes=0-9\nx-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\nx-amz-date: 20130524T000000Z\n\n", s3Now, s3},
		{"s3-put-object", "s3", "PUT /test$file.text HTTP/1.1\nHost: examplebucket.s3.amazonaws.com\nDate: Fri, 24 May 2013 00:00:00 GMT\n" +
			"Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd\n" +
			"x-amz-date: 20130524T000000Z\nx-amz-storage-class: REDUCED_REDUNDANCY\nx-amz-content-sha256: 44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072\nContent-Length: 21\n\nWelcome to Amazon S3.", s3Now, s3},
		{"s3-presigned-get", "s3", "GET /test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404 HTTP/1.1\nHost: examplebucket.s3.amazonaws.com\n\n", s3Now, s3},
	}
}

func verifyRaw(t *testing.T, v vector, raw string) (*authResult, *authError) {
	t.Helper()
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(strings.ReplaceAll(raw, "\n", "\r\n"))))
	if err != nil {
		t.Fatalf("%s: parse: %v", v.name, err)
	}
	ver := &verifier{region: "us-east-1", creds: v.creds, now: func() time.Time { return v.now }}
	_, rawQuery := rawPathQuery(r)
	params, err := parseQuery(rawQuery)
	if err != nil {
		t.Fatalf("%s: query: %v", v.name, err)
	}
	var body []byte
	if v.service != "s3" {
		body = []byte{}
	}
	return ver.verify(r, v.service, params, body)
}

func TestPublishedVectorsAccepted(t *testing.T) {
	for _, v := range vectors() {
		if _, aerr := verifyRaw(t, v, v.raw); aerr != nil {
			t.Errorf("%s: refused: %v %v", v.name, aerr, aerr.extra)
		}
	}
}

func TestPublishedVectorsTampered(t *testing.T) {
	for _, v := range vectors() {
		// One character of the signature, of the path, of a signed header value.
		for _, tamper := range []func(string) string{
			func(s string) string { return strings.Replace(s, "Signature=", "Signature=0", 1) },
			func(s string) string { return strings.Replace(s, " /", " /x/", 1) }, // "/x/a/../.." is "/x"
			func(s string) string { return strings.Replace(s, "20130524T000000Z\n", "20130524T000001Z\n", 1) },
			func(s string) string { return strings.Replace(s, "T123600Z\n", "T123601Z\n", 1) },
		} {
			raw := tamper(v.raw)
			if raw == v.raw {
				continue
			}
			if _, aerr := verifyRaw(t, v, raw); aerr == nil {
				t.Errorf("%s: tampered request accepted:\n%s", v.name, raw)
			}
		}
	}
}

func TestWrongSecretAndSkew(t *testing.T) {
	v := vectors()[0]
	v.creds = map[string]credential{"AKIDEXAMPLE": {secret: "other"}}
	if _, aerr := verifyRaw(t, v, v.raw); aerr == nil || aerr.code != "InvalidSignatureException" {
		t.Errorf("wrong secret: %v", aerr)
	}
	v = vectors()[0]
	v.now = v.now.Add(16 * time.Minute)
	if _, aerr := verifyRaw(t, v, v.raw); aerr == nil || !strings.Contains(aerr.message, "Signature expired") {
		t.Errorf("skew: %v", aerr)
	}
	v = vectors()[7]
	v.now = v.now.Add(-16 * time.Minute)
	if _, aerr := verifyRaw(t, v, v.raw); aerr == nil || aerr.code != "RequestTimeTooSkewed" {
		t.Errorf("s3 skew: %v", aerr)
	}
	v = vectors()[9]
	v.now = v.now.Add(86401 * time.Second)
	if _, aerr := verifyRaw(t, v, v.raw); aerr == nil || aerr.message != "Request has expired" {
		t.Errorf("presigned expiry: %v", aerr)
	}
}

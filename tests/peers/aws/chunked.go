// aws-chunked bodies with x-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER, which the AWS
// CLI sends over HTTPS when asked for a checksum (--checksum-algorithm): "<hex size>\r\n<data>\r\n"
// chunks, a "0\r\n" chunk, then trailer lines "x-amz-checksum-crc32:<base64>\r\n" and "\r\n".
// The signed variants (STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]) are refused with
// NotImplemented: awscli 2.9 never sends them (botocore/auth.py only knows the unsigned trailer).
package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

const streamingUnsignedTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"

type chunkedReader struct {
	br        *bufio.Reader
	remaining int64
	done      bool
	trailers  map[string]string
}

func newChunkedReader(r io.Reader) *chunkedReader {
	return &chunkedReader{br: bufio.NewReaderSize(r, 64<<10), trailers: map[string]string{}}
}

var errChunk = errors.New("malformed aws-chunked body")

// line reads one CRLF-terminated line of at most 4 KiB.
func (c *chunkedReader) line() (string, error) {
	var b strings.Builder
	for {
		frag, err := c.br.ReadSlice('\n')
		b.Write(frag)
		if b.Len() > 4096 {
			return "", errChunk
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err == io.EOF {
				return "", io.ErrUnexpectedEOF
			}
			return "", err
		}
		s := b.String()
		if !strings.HasSuffix(s, "\r\n") {
			return "", errChunk
		}
		return s[:len(s)-2], nil
	}
}

func (c *chunkedReader) Read(p []byte) (int, error) {
	if c.done {
		return 0, io.EOF
	}
	if c.remaining == 0 {
		hdr, err := c.line()
		if err != nil {
			return 0, err
		}
		if i := strings.IndexByte(hdr, ';'); i >= 0 {
			hdr = hdr[:i]
		}
		size, err := strconv.ParseInt(strings.TrimSpace(hdr), 16, 64)
		if err != nil || size < 0 {
			return 0, errChunk
		}
		if size == 0 {
			for {
				t, err := c.line()
				if err != nil {
					return 0, err
				}
				if t == "" {
					break
				}
				i := strings.IndexByte(t, ':')
				if i < 0 || len(c.trailers) > 16 {
					return 0, errChunk
				}
				c.trailers[strings.ToLower(strings.TrimSpace(t[:i]))] = strings.TrimSpace(t[i+1:])
			}
			c.done = true
			return 0, io.EOF
		}
		c.remaining = size
	}
	if int64(len(p)) > c.remaining {
		p = p[:c.remaining]
	}
	n, err := c.br.Read(p)
	c.remaining -= int64(n)
	if c.remaining == 0 {
		if crlf, e := c.line(); e != nil || crlf != "" {
			return n, errChunk
		}
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// decodedLength is x-amz-decoded-content-length, required with aws-chunked.
func decodedLength(h string) (int64, error) {
	n, err := strconv.ParseInt(h, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("x-amz-decoded-content-length %q", h)
	}
	return n, nil
}

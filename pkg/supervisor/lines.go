package supervisor

import (
	"bufio"
	"errors"
	"io"
	"strings"
)

// maxLine bounds one line of the child's output in memory; a longer line is split, never
// dropped.
const maxLine = 64 << 10

// copyLines reads r line by line until EOF (or a read error, such as a deadline set on the pipe by
// the supervisor) and hands each line to emit, in order. A final line without a newline is
// emitted too. It returns nil at EOF.
func copyLines(r io.Reader, emit func(line string)) error {
	br := bufio.NewReaderSize(r, maxLine)
	for {
		b, err := br.ReadSlice('\n')
		if len(b) > 0 && (err == nil || errors.Is(err, bufio.ErrBufferFull) || len(strings.TrimSpace(string(b))) > 0) {
			emit(strings.TrimRight(string(b), "\r\n"))
		}
		switch {
		case err == nil, errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			return nil
		default:
			return err
		}
	}
}

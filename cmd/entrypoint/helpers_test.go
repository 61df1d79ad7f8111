package main

import (
	"bytes"
	"sync"

	"github.com/chris-short/chrony/pkg/config"
)

// syncBuffer collects a child's output written from two pipes at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func variableNames() []string {
	names := make([]string, 0, len(config.Variables))
	for _, v := range config.Variables {
		names = append(names, v.Name)
	}
	return names
}

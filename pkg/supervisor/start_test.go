package supervisor

import (
	"context"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/chris-short/chrony/internal/proctest"
)

// runToEnd is a whole supervision, Start then Wait: a child that could not be started is
// code 1 and the error.
func runToEnd(ctx context.Context, o Options) (int, error) {
	p, err := Start(ctx, o)
	if err != nil {
		return 1, err
	}
	return p.Wait()
}

// TestStartReturnsWhileTheChildRuns: Start returns with the child running and OnStart done;
// a stop signal that arrives before Wait is forwarded by Wait, which returns the child's code.
func TestStartReturnsWhileTheChildRuns(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	var pid int
	p, err := Start(context.Background(), Options{
		Name: "sh", Path: "/bin/sh", Args: []string{"sh", "-c", trapper},
		Env: []string{"PATH=/usr/bin:/bin"}, Log: zap.New(core),
		ShutdownTimeout: 2 * time.Second, DrainTimeout: 300 * time.Millisecond,
		OnStart: func(p int) error { pid = p; return nil },
	})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if pid == 0 || !proctest.Running(pid) {
		t.Fatalf("Start returned with the child (pid %d) not running", pid)
	}
	self(syscall.SIGTERM)()
	done := make(chan struct{})
	var code int
	go func() { code, err = p.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(pid, syscall.SIGKILL)
		<-done
		t.Fatal("Wait did not forward the SIGTERM sent before it was called")
	}
	// 0 when the SIGTERM came before the shell set its trap (stopped as asked), 40 after.
	if err != nil || (code != 0 && code != 40) {
		t.Errorf("Wait = %d, %v; want 0 or 40", code, err)
	}
	if logs.FilterMessage("forwarding signal").Len() != 1 {
		t.Errorf("no forwarded signal in %v", messages(logs))
	}
}

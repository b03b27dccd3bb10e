package messaging_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/dividere-go/dividere/internal/testutil"
)

func TestMain(m *testing.M) { testutil.VerifyNoLeaks(m) }

// tctx is testutil.Ctx.
func tctx(t *testing.T, d time.Duration) context.Context { return testutil.Ctx(t, d) }

// ok is testutil.OK.
func ok[T any](v T, err error) func(*testing.T) T { return testutil.OK(v, err) }

// closeAll is testutil.CloseAll.
func closeAll(t *testing.T, cs ...io.Closer) { testutil.CloseAll(t, cs...) }

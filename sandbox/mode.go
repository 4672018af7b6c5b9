package sandbox

// The values of Result.Mode, declared on every OS so that code comparing against them builds everywhere.
const (
	ModeNamespaces = "namespaces"
	ModeDegraded   = "degraded"
)

package drift

// Box has a field and a method everywhere.
type Box struct {
	Name string
	plat platform
}

// Open is declared everywhere, with parameter names that differ by OS.
func (b *Box) Open(path string) error { return open(path) }

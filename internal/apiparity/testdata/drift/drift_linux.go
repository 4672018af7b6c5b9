package drift

type platform struct{ fd int }

func open(string) error { return nil }

// OnlyOnLinux has no stub elsewhere: the checker must see it.
func OnlyOnLinux() {}

// Extra is a method only Linux has.
func (b *Box) Extra(n int) {}

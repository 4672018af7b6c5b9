package policy

// NamespaceKind is one kind of namespace a policy can ask for. NamespaceKinds is the one list of them:
// decoding, defaults, merging, formatting, compiling, policy explain, require.best_effort, the clone flags
// (package namespaces), the result's enforced.namespaces and the degraded-mode decision all walk it.
type NamespaceKind struct {
	// Name is the key under "namespaces"; the setting is "namespaces."+Name.
	Name string
	// Clone is its CLONE_NEW* flag.
	Clone uint64
	// Default is what a policy that does not mention it gets.
	Default bool
	// Fresh says what a fresh namespace of this kind gives the command (policy explain).
	Fresh string
	// Missing says what a run without it lacks (the result's missing_isolation in degraded mode).
	Missing string
	// Droppable: when user namespaces work but this kind cannot be created, a policy that lists it in
	// require.best_effort runs without it (skipped). The others are not: the rest of the launch needs them
	// (without a mount or uts namespace the init's mounts and hostname would be the host's).
	Droppable bool

	field func(*Namespaces) *bool
	spec  func(*NamespacesSpec) *Field[bool]
}

// Setting is the namespace's policy path, "namespaces."+Name.
func (k NamespaceKind) Setting() string { return "namespaces." + k.Name }

// On reports whether ns asks for a fresh namespace of this kind.
func (k NamespaceKind) On(ns Namespaces) bool { return *k.field(&ns) }

// Set turns this kind on or off in ns.
func (k NamespaceKind) Set(ns *Namespaces, on bool) { *k.field(ns) = on }

// NamespaceKinds lists the namespace kinds in the order the policy language and the result list them.
var NamespaceKinds = [...]NamespaceKind{
	{Name: "user", Clone: 0x10000000, Default: true, Fresh: "ids inside map to an unprivileged host id",
		Missing: "user: no user namespace: the command runs as the caller's own uid and gid on the host, not as a mapped id",
		field:   func(n *Namespaces) *bool { return &n.User }, spec: func(n *NamespacesSpec) *Field[bool] { return &n.User }},
	{Name: "pid", Clone: 0x20000000, Default: true, Fresh: "the command is pid 1's child in its own pid space",
		Missing: "pid: no pid namespace: the host's processes are visible in /proc; what the command leaves behind (in any session) is killed when it ends or when jailrun dies",
		field:   func(n *Namespaces) *bool { return &n.PID }, spec: func(n *NamespacesSpec) *Field[bool] { return &n.PID }},
	{Name: "mount", Clone: 0x00020000, Default: true, Fresh: "its own filesystem view, built below",
		Missing: "mount: no mount namespace: the command sees the host's tree, confined by Landlock to the bind sources (at their host paths), /proc and the /dev device files; file entries and masked_paths are not applied; each writable tmpfs is a private directory removed after the run",
		field:   func(n *Namespaces) *bool { return &n.Mount }, spec: func(n *NamespacesSpec) *Field[bool] { return &n.Mount }},
	{Name: "net", Clone: 0x40000000, Default: true, Fresh: "its own network stack; no interfaces but lo",
		Missing: "net: no network namespace: the host's network; only the seccomp filter and Landlock (TCP bind/connect denied) restrict it",
		field:   func(n *Namespaces) *bool { return &n.Net }, spec: func(n *NamespacesSpec) *Field[bool] { return &n.Net }},
	{Name: "ipc", Clone: 0x08000000, Default: true, Droppable: true, Fresh: "its own SysV IPC and POSIX message queues",
		Missing: "ipc: no ipc namespace: the host's System V IPC objects and POSIX message queues are reachable",
		field:   func(n *Namespaces) *bool { return &n.IPC }, spec: func(n *NamespacesSpec) *Field[bool] { return &n.IPC }},
	{Name: "uts", Clone: 0x04000000, Default: true, Fresh: "its own hostname",
		Missing: "uts: no uts namespace: the host's hostname (process.hostname not applied)",
		field:   func(n *Namespaces) *bool { return &n.UTS }, spec: func(n *NamespacesSpec) *Field[bool] { return &n.UTS }},
	{Name: "cgroup", Clone: 0x02000000, Default: true, Fresh: "sees its own cgroup as the root",
		Missing: "cgroup: no cgroup namespace: the host's cgroup paths are visible",
		field:   func(n *Namespaces) *bool { return &n.Cgroup }, spec: func(n *NamespacesSpec) *Field[bool] { return &n.Cgroup }},
	// The only kind off unless a policy asks for it.
	{Name: "time", Clone: 0x00000080, Default: false, Droppable: true, Fresh: "its own monotonic and boot clocks",
		Missing: "time: no time namespace: the host's clocks",
		field:   func(n *Namespaces) *bool { return &n.Time }, spec: func(n *NamespacesSpec) *Field[bool] { return &n.Time }},
}

// MayDrop reports whether a run may go on without this kind when the host will not create it (and user
// namespaces work): the launch can do without it (Droppable) and require.best_effort allows it.
func (k NamespaceKind) MayDrop(r Require) bool { return k.Droppable && r.Allows(k.Setting()) }

// Names lists the kinds ns asks for, in table order.
func (ns Namespaces) Names() []string {
	var out []string
	for _, k := range NamespaceKinds {
		if k.On(ns) {
			out = append(out, k.Name)
		}
	}
	return out
}

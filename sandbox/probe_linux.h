#ifndef JAILRUN_PROBE_H
#define JAILRUN_PROBE_H

// jr_probe_ns clones a throw-away child with outer (CLONE_NEW* flags, or 0) and has it unshare inner. Returns
// 0 when both work, -errno when the clone fails, or the unshare's errno (> 0) when only that fails: with
// outer CLONE_NEWUSER and inner CLONE_NEWNS, that is a user namespace that grants no capabilities (AppArmor's
// unprivileged_userns restriction).
int jr_probe_ns(unsigned long outer, unsigned long inner);

#endif

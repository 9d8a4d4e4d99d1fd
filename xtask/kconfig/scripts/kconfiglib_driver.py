#!/usr/bin/env python3
"""Reference side of tessera-kconfig's conformance harness.

Usage: kconfiglib_driver.py SRCTREE WORKDIR N

Runs with the current directory set to SRCTREE and parses "Kconfig" with
kconfiglib (14.1.0). For every i in 0..N it loads WORKDIR/in/<i>.config
into a fresh Kconfig instance (olddefconfig semantics) and writes

  WORKDIR/py/<i>.config  full configuration (write_config, empty header)
  WORKDIR/py/<i>.min     minimal configuration (write_min_config, empty header)
  WORKDIR/py/<i>.warn    warnings, one per record, separated by NUL bytes
  WORKDIR/py/<i>.new     listnewconfig output for the loaded configuration

It also writes allno.config / allyes.config like kconfiglib's
allnoconfig.py / allyesconfig.py (without KCONFIG_ALLCONFIG).
"""
import os
import sys

import kconfiglib


def fresh():
    k = kconfiglib.Kconfig("Kconfig", warn_to_stderr=False)
    k.warnings = []
    return k


def dump(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def listnew(k):
    # Same selection and format as kconfiglib's listnewconfig.py.
    res = []
    for sym in k.unique_defined_syms:
        if sym.user_value is None and \
           (len(sym.assignable) > 1 or
            (sym.visibility and (sym.orig_type in (kconfiglib.INT, kconfiglib.HEX,
                                                   kconfiglib.STRING) or
                                 sym.choice))):
            if sym.orig_type in (kconfiglib.BOOL, kconfiglib.TRISTATE):
                res.append("{}{}={}\n".format(k.config_prefix, sym.name,
                                              kconfiglib.TRI_TO_STR[sym.tri_value]))
            else:
                res.append(sym.config_string)
    return "".join(res)


def main():
    srctree, workdir, n = sys.argv[1], os.path.abspath(sys.argv[2]), int(sys.argv[3])
    os.chdir(srctree)
    out = os.path.join(workdir, "py")
    os.makedirs(out, exist_ok=True)
    # Always warn about assignments to undefined symbols (tessera-kconfig
    # always does).
    for i in range(n):
        k = fresh()
        k.warn_assign_undef = True
        k.load_config(os.path.join(workdir, "in", "%d.config" % i))
        dump(os.path.join(out, "%d.config" % i), k._config_contents(""))
        dump(os.path.join(out, "%d.min" % i), k._min_config_contents(""))
        dump(os.path.join(out, "%d.warn" % i), "\0".join(k.warnings))
        dump(os.path.join(out, "%d.new" % i), listnew(k))

    k = fresh()
    k.warn = False
    for sym in k.unique_defined_syms:
        sym.set_value(2 if sym.is_allnoconfig_y else 0)
    dump(os.path.join(out, "allno.config"), k._config_contents(""))

    k = fresh()
    k.warn = False
    for sym in k.unique_defined_syms:
        sym.set_value(1 if sym.choice else 2)
    for choice in k.unique_choices:
        choice.set_value(2)
    dump(os.path.join(out, "allyes.config"), k._config_contents(""))


if __name__ == "__main__":
    main()

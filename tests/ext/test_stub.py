"""php-ext/banlog.stub.php says what the extension declares: PHP's Reflection of the loaded
extension and of the stub (loaded as plain PHP, without the extension) agree for every function,
on names, parameters (name, type, optional, default, by reference, variadic) and return types."""
import json

from support.paths import EXT, ROOT
from support.php import run_php

STUB = ROOT / "php-ext" / "banlog.stub.php"

# Describes every function whose name starts with banlog_ among $funcs.
DESCRIBE = r"""
$out = [];
foreach ($funcs as $f) {
    $r = new ReflectionFunction($f);
    $params = [];
    foreach ($r->getParameters() as $p) {
        $params[] = [
            'name' => $p->getName(),
            'type' => (string) $p->getType(),
            'nullable' => $p->allowsNull(),
            'optional' => $p->isOptional(),
            'default' => $p->isDefaultValueAvailable() ? var_export($p->getDefaultValue(), true) : null,
            'by_ref' => $p->isPassedByReference(),
            'variadic' => $p->isVariadic(),
        ];
    }
    $out[$r->getName()] = [
        'params' => $params,
        'required' => $r->getNumberOfRequiredParameters(),
        'return' => (string) $r->getReturnType(),
        'returns_ref' => $r->returnsReference(),
    ];
}
ksort($out);
echo json_encode($out);
"""


def describe(code, ext):
    return json.loads(run_php(code + DESCRIBE, ext=ext).stdout)


def test_the_stub_and_the_extension_declare_the_same_functions():
    loaded = describe("$funcs = get_extension_funcs('banlog');", ext=EXT)
    stub = describe(
        f"require {str(STUB)!r};"
        "$funcs = array_filter(get_defined_functions()['user'], fn($f) => str_starts_with($f, 'banlog_'));",
        ext=None,
    )
    assert sorted(loaded) == ["banlog_auth", "banlog_configure", "banlog_flush", "banlog_gate", "banlog_gate_enter", "banlog_recent", "banlog_spam", "banlog_stats"]
    assert sorted(stub) == sorted(loaded), "functions in one and not the other"
    for name in loaded:
        assert stub[name] == loaded[name], f"{name}: stub {stub[name]} != extension {loaded[name]}"

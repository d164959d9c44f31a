"""Fail when modules of ours import each other in a circle (directly or through others).

import-linter's layers contracts keep packages pointing down; this keeps the modules inside one
package from forming a loop (shared.runtime.metrics <-> shared.runtime.process was one). Imports under
`if TYPE_CHECKING:` count too: a type that needs a circle to name it is a design that needs one.
Run by `make lint`.
"""

from __future__ import annotations

import sys

import grimp


def strongly_connected(graph: grimp.ImportGraph, modules: set[str]) -> list[list[str]]:
    """Tarjan's algorithm over the module graph: every component of more than one module is a circle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(start: str) -> None:
        nonlocal counter
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start) & modules)))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child) & modules))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))

    for module in sorted(modules):
        if module not in index:
            visit(module)
    return found


def main() -> int:
    graph = grimp.build_graph("shared", "functions")
    modules = set(graph.modules)
    circles = strongly_connected(graph, modules)
    for circle in circles:
        print("import circle:", " <-> ".join(circle), file=sys.stderr)
    if circles:
        return 1
    print(f"no import circles among {len(modules)} modules")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The VM's hot path: the common data opcodes, interpreted inline over the reader's window.

A 10-million-opcode pickle is mostly constants, containers and memo traffic; dispatching each
through a handler costs several times more than this loop. Only the happy path is handled: an
operand past the window or the frame end, an empty stack, a memo miss, any opcode that reaches
a callable — the loop stops *before* changing state and ``Machine._step`` runs that opcode with
every check, so both paths have the same semantics.
"""

from __future__ import annotations

import struct
from typing import Protocol

from scanner.formats.pickle.reader import StreamReader
from scanner.formats.pickle.values import (
    KEEP_ITEMS,
    SHARED_DICT,
    SHARED_LIST,
    Dict,
    Opaque,
    Seq,
    SharedDict,
    SharedSeq,
    Value,
)


class FastState(Protocol):
    """The machine state the fast loop reads and advances (``vm.Machine`` has it); a protocol
    rather than an import of ``vm``, which imports this module."""

    r: StreamReader
    stack: list[object]
    marks: list[int]
    memo_list: list[object]
    memo_extra: dict[int, object]
    count: int
    max_opcodes: int


#: Largest length-prefixed operand kept in memory; longer ones are referenced by offset.
INLINE_MAX = 1 << 20
#: Memo entries after which tuples of constants are no longer kept item by item.
MEMO_DETAIL = 500_000
MAX_MEMO = 8_000_000
MAX_STACK = 4_000_000

_CONST_TUPLE = Opaque("tuple of constants")
_LINE_OPS = frozenset(b"IpgVFL")
_I32 = struct.Struct("<i")
_U32 = struct.Struct("<I")
_F64 = struct.Struct(">d")


class LimitReached(Exception):
    """A budget of the scan (opcodes, memo, stack) was exhausted."""


def make_tuple(items: list[object], memo_heavy: bool) -> object:
    """A tuple value: a real tuple when small and made of constants (cheap, renders exactly)."""
    if len(items) <= KEEP_ITEMS and not any(isinstance(i, Value) for i in items):
        return _CONST_TUPLE if memo_heavy and items else tuple(items)
    return Seq("tuple", items)


def run_fast(self: FastState) -> None:
    """The common data opcodes, inline over the reader's window (the hot path of a
    10-million-opcode pickle). Only the happy path is handled here: anything unusual —
    an operand past the window or the frame, an empty stack, a memo miss, an opcode
    that reaches a callable — leaves the loop *before* changing any state, and
    ``_step`` executes that opcode with every check."""
    r = self.r
    pos = r.pos
    fe = r.frame_end
    if fe is not None and fe <= pos:
        r.frame_end = fe = None
    buf = r._buf
    base = r._base
    stop = len(buf)
    if fe is not None and fe - base < stop:
        stop = fe - base
    i = pos - base
    if i < 0 or i >= stop:
        return
    stack = self.stack
    push = stack.append
    marks = self.marks
    memo = self.memo_list
    extra = self.memo_extra
    fence = marks[-1] if marks else 0
    count = self.count
    budget = self.max_opcodes - count
    done = 0
    heavy = len(memo) > MEMO_DETAIL
    unpack_i = _I32.unpack_from
    unpack_u = _U32.unpack_from
    unpack_d = _F64.unpack_from
    try:
        while i < stop and done < budget:
            c = buf[i]
            if c == 0x94:  # MEMOIZE
                if len(stack) <= fence or extra or len(memo) >= MAX_MEMO:
                    break
                memo.append(stack[-1])
                i += 1
            elif c == 0x8C or c == 0x55 or c == 0x43:  # SHORT_BINUNICODE/BINSTRING/BINBYTES
                if i + 2 > stop:
                    break
                n = buf[i + 1]
                j = i + 2 + n
                if j > stop:
                    break
                raw = buf[i + 2 : j]
                if c == 0x8C:
                    push(raw.decode("utf-8", "surrogatepass"))
                elif c == 0x55:
                    push(raw.decode("latin-1"))
                else:
                    push(raw)
                i = j
            elif c == 0x4B:  # BININT1
                if i + 2 > stop:
                    break
                push(buf[i + 1])
                i += 2
            elif c == 0x4D:  # BININT2
                if i + 3 > stop:
                    break
                push(buf[i + 1] | buf[i + 2] << 8)
                i += 3
            elif c == 0x4A:  # BININT
                if i + 5 > stop:
                    break
                push(unpack_i(buf, i + 1)[0])
                i += 5
            elif c == 0x47:  # BINFLOAT
                if i + 9 > stop:
                    break
                push(unpack_d(buf, i + 1)[0])
                i += 9
            elif c == 0x58:  # BINUNICODE
                if i + 5 > stop:
                    break
                n = unpack_u(buf, i + 1)[0]
                j = i + 5 + n
                if n > INLINE_MAX or j > stop:
                    break
                push(buf[i + 5 : j].decode("utf-8", "surrogatepass"))
                i = j
            elif c == 0x71 or c == 0x72:  # BINPUT / LONG_BINPUT
                w = 2 if c == 0x71 else 5
                if i + w > stop or len(stack) <= fence:
                    break
                key = buf[i + 1] if c == 0x71 else unpack_u(buf, i + 1)[0]
                if key < len(memo):
                    memo[key] = stack[-1]
                elif key == len(memo) and not extra and key < MAX_MEMO:
                    memo.append(stack[-1])
                else:
                    break
                i += w
            elif c == 0x68 or c == 0x6A:  # BINGET / LONG_BINGET
                w = 2 if c == 0x68 else 5
                if i + w > stop:
                    break
                key = buf[i + 1] if c == 0x68 else unpack_u(buf, i + 1)[0]
                if key >= len(memo) or len(stack) >= MAX_STACK:
                    break
                push(memo[key])
                i += w
            elif c == 0x28:  # MARK
                fence = len(stack)
                marks.append(fence)
                i += 1
            elif c == 0x65 or c == 0x75:  # APPENDS / SETITEMS
                if not marks:
                    break
                k = marks[-1]
                below = marks[-2] if len(marks) > 1 else 0
                if k <= below:
                    break
                target = stack[k - 1]
                if c == 0x65:
                    if type(target) is SharedSeq:
                        pass
                    elif type(target) is Seq and target.kind == "list":
                        target.add(stack[k:])
                    else:
                        break
                else:
                    if (len(stack) - k) % 2:
                        break
                    if type(target) is SharedDict:
                        pass
                    elif type(target) is Dict:
                        items = stack[k:]
                        target.add(list(zip(items[::2], items[1::2], strict=True)))
                    else:
                        break
                del stack[k:]
                marks.pop()
                fence = below
                i += 1
            elif c == 0x5D:  # EMPTY_LIST
                push(SHARED_LIST if heavy else Seq("list"))
                i += 1
            elif c == 0x7D:  # EMPTY_DICT
                push(SHARED_DICT if heavy else Dict())
                i += 1
            elif c == 0x29:  # EMPTY_TUPLE
                push(())
                i += 1
            elif c == 0x4E:  # NONE
                push(None)
                i += 1
            elif c == 0x88:
                push(True)
                i += 1
            elif c == 0x89:
                push(False)
                i += 1
            elif 0x85 <= c <= 0x87:  # TUPLE1..3
                n = c - 0x84
                if len(stack) - n < fence:
                    break
                items = stack[-n:]
                del stack[-n:]
                push(make_tuple(items, heavy))
                i += 1
            elif c == 0x74 or c == 0x6C:  # TUPLE / LIST
                if not marks:
                    break
                k = marks.pop()
                items = stack[k:]
                del stack[k:]
                fence = marks[-1] if marks else 0
                push(make_tuple(items, heavy) if c == 0x74 else Seq("list", items))
                i += 1
            elif c == 0x8A:  # LONG1
                if i + 2 > stop:
                    break
                j = i + 2 + buf[i + 1]
                if j > stop:
                    break
                push(int.from_bytes(buf[i + 2 : j], "little", signed=True))
                i = j
            elif c == 0x42:  # BINBYTES
                if i + 5 > stop:
                    break
                n = unpack_u(buf, i + 1)[0]
                j = i + 5 + n
                if n > INLINE_MAX or j > stop:
                    break
                push(buf[i + 5 : j])
                i = j
            elif c in _LINE_OPS:  # INT / PUT / GET / UNICODE / FLOAT / LONG
                j = buf.find(b"\n", i + 1, stop)
                if j < 0:
                    break
                line = buf[i + 1 : j]
                if c == 0x56:
                    push(line.decode("raw-unicode-escape"))
                elif c == 0x46:
                    push(float(line))
                elif c == 0x4C:
                    digits = line[:-1] if line.endswith(b"L") else line
                    if len(digits) > 4000:
                        break
                    push(int(digits))
                elif c == 0x49:
                    if line == b"00" or line == b"01" or not line.isdigit() or len(line) > 18:
                        break  # bools and odd literals take the checked path
                    push(int(line))
                else:
                    if not line.isdigit() or len(line) > 18:
                        break
                    key = int(line)
                    if c == 0x67:
                        if key >= len(memo) or len(stack) >= MAX_STACK:
                            break
                        push(memo[key])
                    else:
                        if len(stack) <= fence:
                            break
                        if key < len(memo):
                            memo[key] = stack[-1]
                        elif key == len(memo) and not extra and key < MAX_MEMO:
                            memo.append(stack[-1])
                        else:
                            break
                i = j + 1
            elif c == 0x64:  # DICT
                if not marks or (len(stack) - marks[-1]) % 2:
                    break
                k = marks.pop()
                items = stack[k:]
                del stack[k:]
                fence = marks[-1] if marks else 0
                d = SHARED_DICT if heavy else Dict()
                d.add(list(zip(items[::2], items[1::2], strict=True)))
                push(d)
                i += 1
            elif c == 0x30:  # POP
                if len(stack) <= fence or (marks and marks[-1] == len(stack)):
                    break
                stack.pop()
                i += 1
            elif c == 0x61:  # APPEND
                if len(stack) - 2 < fence:
                    break
                target = stack[-2]
                if type(target) is SharedSeq:
                    pass
                elif type(target) is Seq and target.kind == "list":
                    target.add(stack[-1:])
                else:
                    break
                stack.pop()
                i += 1
            elif c == 0x73:  # SETITEM
                if len(stack) - 3 < fence:
                    break
                target = stack[-3]
                if type(target) is SharedDict:
                    pass
                elif type(target) is Dict:
                    target.add([(stack[-2], stack[-1])])
                else:
                    break
                del stack[-2:]
                i += 1
            else:
                break
            done += 1
    except (UnicodeDecodeError, ValueError):
        pass  # _step re-reads this operand and reports it
    r.pos = base + i
    self.count = count + done
    # One window (1 MiB) pushes at most a million values: checking here bounds the stack.
    if len(stack) > MAX_STACK:
        raise LimitReached(f"stack deeper than {MAX_STACK}")

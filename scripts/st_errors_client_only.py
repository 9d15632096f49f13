"""st_errors_client_only.py REPORT — exit 0 when a Schemathesis text report that
ended non-zero holds no failure and only errors raised inside Schemathesis's own
HTTP client before a request was sent: a header value the client cannot encode
(it sends headers as Latin-1) or refuses (leading whitespace, CR/LF), alone or as
all the sub-exceptions of Hypothesis's group in the stateful phase. Those cases
never reached the server, so they say nothing about PulseStream; any failure, or
any other error, exits 1 and names it. Used by scripts/fuzz-api.sh."""
import re
import sys

CLIENT_ONLY = (
    "codec can't encode",
    "Invalid leading whitespace, reserved character(s), or return character(s) in header value",
)

def sub_messages(msg, block):
    """The messages an error stands for: its own, or, when it is Hypothesis's
    group of several failures (the stateful phase), the last line of each
    sub-exception's traceback ("| SomeError: message")."""
    if not re.match(r"Hypothesis found \d+ distinct failures", msg):
        return [msg]
    subs = [m.group(1) for l in block
            if (m := re.match(r"\|\s*(?!ExceptionGroup)[\w.]+(?:Error|Exception|Header): (.*)", l))]
    return subs or [msg]

def main(path):
    text = open(path, encoding="utf-8", errors="replace").read()
    summary = [l for l in text.splitlines() if re.search(r"\d+ generated", l)]
    if not summary or any(re.search(r"fail", l) for l in summary):
        print(f"schemathesis: failures or no summary in {path}: {summary}")
        return 1
    m = re.search(r"=+ ERRORS =+\n(.*?)\n=+ ", text, re.S)
    if not m:
        print(f"schemathesis: it failed without failures or errors in {path}")
        return 1
    lines = [l.strip() for l in m.group(1).splitlines()]
    # Each error block: a line naming the kind ("Runtime Error"), then its message.
    kinds = [i for i, l in enumerate(lines) if re.fullmatch(r"[A-Z][A-Za-z ]* Error", l)]
    other = []
    for n, i in enumerate(kinds):
        msg = next((l for l in lines[i + 1:] if l), "")
        block = lines[i + 1:kinds[n + 1] if n + 1 < len(kinds) else len(lines)]
        if not all(any(c in m for c in CLIENT_ONLY) for m in sub_messages(msg, block)):
            other.append(f"{lines[i]}: {msg}")
    if not kinds or other:
        print("schemathesis: errors other than the client's own header encoding:\n  " + "\n  ".join(other or ["(none parsed)"]))
        return 1
    print(f"schemathesis: {len(kinds)} generated request(s) could not be sent by its own client "
          "(a header value outside Latin-1 or with CR/LF); none reached the server, no failure")
    return 0

if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

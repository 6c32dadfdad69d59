"""A labelled set of calls for the redaction benchmark (not a test), spoken by espeak-ng.

Each call is a stereo 8 kHz WAV: the agent (channel 0) asks, the customer (channel 1) answers with
one item: a card, resident ID, phone or bank account number, a security code, an expiry date, an
e-mail address, or a look-alike that must stay (an order number, an amount, a time). Items vary by
language (English: en-us and en-gb voices; Mandarin: cmn), speed (130/160/190 words a minute),
noise (none, or white noise at 15 dB SNR), grouping (digit groups with short pauses, or none),
form (digit by digit, "double"/"oh", 幺 for one, 两 for two) and splitting (groups 2.5 s apart, so Whisper cuts
separate segments). ``labels.json`` lists, per call, each item's type, digits and time span on the
customer channel. Deterministic for a seed.

``python -m bench.redaction_set OUT_DIR [--seed 18] [--en 64] [--zh 48] [--declines 12]``
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import tempfile
import wave
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

RATE = 8000
EN_WORD = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
ZH_DIGIT = "零一二三四五六七八九"
# espeak-ng's cmn voice reads Chinese characters poorly (Whisper hears English-like syllables); its
# pinyin voice is used instead, with the pinyin of every text written here by hand
PINYIN = {"零": "ling2", "一": "yi1", "幺": "yao1", "二": "er4", "三": "san1", "四": "si4", "五": "wu3",
          "六": "liu4", "七": "qi1", "八": "ba1", "九": "jiu3", "X": "cha1", "百": "bai3", "十": "shi2",
          "块": "kuai4", "下午": "xia4 wu3", "点": "dian3", "分": "fen1", "两": "liang3"}
ZH_TEXT_PINYIN = {
    "请您提供一下身份证号码。": "qing3 nin2 ti2 gong1 yi2 xia4 shen1 fen4 zheng4 hao4 ma3.",
    "好的，我的身份证号码是": "hao3 de5, wo3 de5 shen1 fen4 zheng4 hao4 ma3 shi4",
    "请问您的手机号码是多少？": "qing3 wen4 nin2 de5 shou3 ji1 hao4 ma3 shi4 duo1 shao3?",
    "我的手机号是": "wo3 de5 shou3 ji1 hao4 shi4",
    "请留一个座机电话。": "qing3 liu2 yi2 ge4 zuo4 ji1 dian4 hua4.",
    "座机号码是": "zuo4 ji1 hao4 ma3 shi4",
    "请您报一下银行卡号。": "qing3 nin2 bao4 yi2 xia4 yin2 hang2 ka3 hao4.",
    "卡号是": "ka3 hao4 shi4",
    "请告诉我您的银行账号。": "qing3 gao4 su4 wo3 nin2 de5 yin2 hang2 zhang4 hao4.",
    "账号是": "zhang4 hao4 shi4",
    "请问您的订单号是多少？": "qing3 wen4 nin2 de5 ding4 dan1 hao4 shi4 duo1 shao3?",
    "订单号是": "ding4 dan1 hao4 shi4",
    "这个月扣了多少钱？": "zhe4 ge4 yue4 kou4 le5 duo1 shao3 qian2?",
    "一共扣了": "yi2 gong4 kou4 le5",
    "您是几点打的电话？": "nin2 shi4 ji3 dian3 da3 de5 dian4 hua4?",
    "我是": "wo3 shi4",
    "请问您的快递单号是多少？": "qing3 wen4 nin2 de5 kuai4 di4 dan1 hao4 shi4 duo1 shao3?",
    "快递单号是": "kuai4 di4 dan1 hao4 shi4",
    "谢谢。": "xie4 xie5.",
    "我不太方便说。": "wo3 bu2 tai4 fang1 bian4 shuo1.",
    "就是你们系统里的那个。": "jiu4 shi4 ni3 men5 xi4 tong3 li3 de5 na4 ge4.",
    "我现在没带在身上。": "wo3 xian4 zai4 mei2 dai4 zai4 shen1 shang4.",
    "这张卡我用了两年了。": "zhe4 zhang1 ka3 wo3 yong4 le5 liang3 nian2 le5.",
    "我等一下再告诉你好吗？": "wo3 deng3 yi2 xia4 zai4 gao4 su4 ni3 hao3 ma5?",
}


def to_pinyin(text: str) -> str:
    """Pinyin of the fixed texts and of numbers written in Chinese characters."""
    if text in ZH_TEXT_PINYIN:
        return ZH_TEXT_PINYIN[text]
    out, i = [], 0
    while i < len(text):
        for n in (2, 1):
            if text[i:i + n] in PINYIN:
                out.append(PINYIN[text[i:i + n]])
                i += n
                break
        else:
            i += 1
    return " ".join(out)


@dataclass
class Label:
    kind: str  # card, id, phone, cvv, expiry, account, email, or none (a look-alike)
    digits: str
    start: float
    end: float


def luhn_complete(body: str) -> str:
    for d in "0123456789":
        total = 0
        for i, c in enumerate(reversed(body + d)):
            n = int(c)
            if i % 2:
                n = n * 2 - 9 if n > 4 else n * 2
            total += n
        if total % 10 == 0:
            return body + d
    raise AssertionError


def card(rng: random.Random) -> str:
    prefix, n = rng.choice([("4", 16), ("51", 16), ("55", 16), ("37", 15), ("62", 16), ("62", 19)])
    body = prefix + "".join(rng.choice("0123456789") for _ in range(n - len(prefix) - 1))
    return luhn_complete(body)


def cn_id(rng: random.Random) -> str:
    area = rng.choice(["110105", "440305", "310104", "510107", "330106"])
    born = f"{rng.randint(1950, 2004)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    body = area + born + f"{rng.randint(0, 999):03d}"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, weights, strict=True)) % 11]


def mobile(rng: random.Random) -> str:
    return "1" + rng.choice("3456789") + "".join(rng.choice("0123456789") for _ in range(9))


def landline(rng: random.Random) -> str:
    area = rng.choice(["010", "021", "0755", "0571"])
    return area + rng.choice("2345678") + "".join(rng.choice("0123456789") for _ in range(7))


def digits(rng: random.Random, n: int, first: str = "123456789") -> str:
    return rng.choice(first) + "".join(rng.choice("0123456789") for _ in range(n - 1))


def groups(number: str, sizes: list[int]) -> list[str]:
    out, i = [], 0
    for s in sizes:
        if i < len(number):
            out.append(number[i:i + s])
            i += s
    if i < len(number):
        out[-1] += number[i:]
    return out


def en_say(group: str, rng: random.Random, *, fancy: bool) -> str:
    words, i = [], 0
    while i < len(group):
        c = group[i]
        if fancy and i + 1 < len(group) and group[i + 1] == c and group[i] != "X":
            run = 3 if i + 2 < len(group) and group[i + 2] == c else 2
            words.append(("double " if run == 2 else "triple ") + EN_WORD[int(c)])
            i += run
            continue
        if c == "X":
            words.append("X")
        else:
            words.append("oh" if c == "0" and fancy and rng.random() < 0.7 else EN_WORD[int(c)])
        i += 1
    return " ".join(words)


def zh_say(group: str, *, yao: bool, liang: bool = False) -> str:
    """Digit by digit; 幺 for one and 两 for two when asked (as people read phone and ID numbers)."""
    return "".join("X" if c == "X" else "幺" if c == "1" and yao else "两" if c == "2" and liang
                   else ZH_DIGIT[int(c)] for c in group)


def espeak(text: str, voice: str, speed: int, tmp: Path) -> np.ndarray:
    out = tmp / "x.wav"
    if voice.startswith("cmn"):
        voice, text = "cmn-latn-pinyin", to_pinyin(text)
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(out), text], check=True,
                   capture_output=True)
    with wave.open(str(out)) as w:
        rate = w.getframerate()
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32)
    # 22050 → 8000 Hz, then trim the silence espeak pads around speech
    t = np.arange(int(len(pcm) * RATE / rate)) * rate / RATE
    pcm = np.interp(t, np.arange(len(pcm)), pcm)
    loud = np.flatnonzero(np.abs(pcm) > 300)
    return pcm[loud[0]:loud[-1] + 1] if len(loud) else pcm


# (kind, agent prompt, customer lead-in, how the number is made, group sizes)
EN_ITEMS = [
    ("card", "Can I have the long number on your card please?", "Sure, it is", card, [4, 4, 4, 4]),
    ("phone", "What is the best phone number to reach you?", "You can call me on", mobile, [3, 4, 4]),
    ("phone", "And your telephone number?", "It is plus", lambda r: "44" + digits(r, 10, "27"), [2, 2, 4, 4]),
    ("phone", "Could I get a contact number?", "My number is", lambda r: digits(r, 3, "2345678") + "5"
     + digits(r, 6, "23456789"), [3, 3, 4]),
    ("cvv", "And the security code on the back of the card?", "It is", lambda r: digits(r, 3), [3]),
    ("expiry", "What is the expiry date on the card?", "It expires", lambda r: f"{r.randint(1, 12):02d}"
     f"{r.randint(26, 31)}", [2, 2]),
    ("account", "Can you read me your bank account number?", "Yes, the account number is",
     lambda r: digits(r, 10), [4, 3, 3]),
    ("email", "What is your email address?", "It is", None, []),
    ("none", "Can you give me your order number?", "The order number is", lambda r: digits(r, 9), [3, 3, 3]),
    ("none", "How much did they charge you?", "They charged me", None, []),
    ("none", "When did you call us before?", "I called at", None, []),
]
ZH_ITEMS = [
    ("id", "请您提供一下身份证号码。", "好的，我的身份证号码是", cn_id, [6, 8, 4]),
    ("phone", "请问您的手机号码是多少？", "我的手机号是", mobile, [3, 4, 4]),
    ("phone", "请留一个座机电话。", "座机号码是", landline, [4, 8]),
    ("card", "请您报一下银行卡号。", "卡号是", card, [4, 4, 4, 4, 3]),
    ("account", "请告诉我您的银行账号。", "账号是", lambda r: digits(r, 12), [4, 4, 4]),
    ("none", "请问您的订单号是多少？", "订单号是", lambda r: digits(r, 10, "2"), [4, 3, 3]),
    ("none", "请问您的快递单号是多少？", "快递单号是", lambda r: digits(r, 12, "7"), [4, 4, 4]),
    ("none", "这个月扣了多少钱？", "一共扣了", None, []),
    ("none", "您是几点打的电话？", "我是", None, []),
]
WEIGHTS_EN = {"card": 16, "phone": 5, "cvv": 6, "expiry": 6, "account": 6, "email": 6, "none": 4}
WEIGHTS_ZH = {"id": 16, "phone": 8, "card": 10, "account": 4, "none": 4}


def _lookalike_text(prompt: str, rng: random.Random, zh: bool) -> str:
    if zh:
        if "钱" in prompt:
            return f"{ZH_DIGIT[rng.randint(2, 9)]}百{ZH_DIGIT[rng.randint(2, 9)]}十块"
        return f"下午{ZH_DIGIT[rng.randint(1, 9)]}点{ZH_DIGIT[rng.randint(1, 5)]}十分"
    if "charge" in prompt:
        return f"{rng.randint(20, 999)} dollars and {rng.randint(10, 99)} cents"
    return f"{rng.randint(1, 11)} {rng.randint(10, 59)} in the afternoon"


def make_call(idx: int, item: tuple, rng: random.Random, tmp: Path, *, zh: bool) -> tuple[np.ndarray, dict]:
    kind, prompt, lead, make, sizes = item
    voice = "cmn" if zh else rng.choice(["en-us", "en-gb"])
    speed = rng.choice([130, 160, 190])
    grouped = rng.random() < 0.6
    split = rng.random() < 0.3
    fancy = not zh and rng.random() < 0.5
    # Mandarin: 幺 for one (phones half the time, ID and card numbers a third), 两 for two (a quarter)
    yao = zh and rng.random() < (0.5 if kind == "phone" else 0.33)
    liang = zh and rng.random() < 0.25
    noisy = rng.random() < 0.35
    agent = espeak(prompt, voice, speed, tmp)
    script = [{"channel": 0, "start": 0.4, "end": round(0.4 + len(agent) / RATE, 3), "text": prompt}]
    t = 0.4 + len(agent) / RATE + 0.6
    pieces: list[tuple[float, np.ndarray]] = [(t, espeak(lead, voice, speed, tmp))]
    said = [lead]
    t += len(pieces[0][1]) / RATE + 0.35
    number = ""
    if make is not None:
        number = make(rng)
        parts = groups(number, sizes) if grouped or split else [number]
        for k, g in enumerate(parts):
            text = zh_say(g, yao=yao, liang=liang) if zh else en_say(g, rng, fancy=fancy)
            audio = espeak(text, voice, speed, tmp)
            pieces.append((t, audio))
            said.append(text)
            t += len(audio) / RATE + (2.5 if split and k == len(parts) // 2 - 1 else 0.45)
        span = (pieces[1][0], t - 0.45)
    elif kind == "email":
        user = rng.choice(["john", "mary", "li.wei", "peter", "anna"])
        dom = rng.choice(["example", "mailbox", "gmail", "company"])
        text = f"{user.replace('.', ' dot ')} at {dom} dot com"
        audio = espeak(text, voice, speed, tmp)
        pieces.append((t, audio))
        said.append(text)
        span = (t, t + len(audio) / RATE)
        t += len(audio) / RATE + 0.45
        number = f"{user}@{dom}.com"
    else:
        text = _lookalike_text(prompt, rng, zh)
        audio = espeak(text, voice, speed, tmp)
        pieces.append((t, audio))
        said.append(text)
        span = (t, t + len(audio) / RATE)
        t += len(audio) / RATE + 0.45
    tail = espeak("谢谢。" if zh else "Thank you.", voice, speed, tmp)
    pieces.append((t + 0.3, tail))
    said.append("谢谢。" if zh else "Thank you.")
    script += [{"channel": 1, "start": round(at, 3), "end": round(at + len(a) / RATE, 3), "text": txt}
               for (at, a), txt in zip(pieces, said, strict=True)]
    total = int((t + 0.3 + len(tail) / RATE + 1.0) * RATE)
    pcm = np.zeros((total, 2), dtype=np.float32)
    pcm[int(0.4 * RATE):int(0.4 * RATE) + len(agent), 0] = agent
    for at, audio in pieces:
        a = int(at * RATE)
        pcm[a:a + len(audio), 1] += audio
    if noisy:
        level = np.sqrt(np.mean(pcm[pcm != 0] ** 2)) / (10 ** (15 / 20))
        pcm += np.random.default_rng(idx).standard_normal(pcm.shape).astype(np.float32) * level
    pcm = np.clip(pcm, -32768, 32767).astype(np.int16)
    label = Label(kind, number, round(span[0], 3), round(span[1], 3))
    meta = {"language": "zh" if zh else "en", "voice": voice, "speed": speed, "grouped": grouped, "split": split,
            "words": "fancy" if fancy else ("幺" if yao else "") + ("两" if liang else "") or "plain",
            "noise": noisy, "agent_prompt": prompt,
            "labels": [asdict(label)] if kind != "none" else [], "kind": kind, "script": script}
    return pcm, meta


# Look-alikes of another kind: the agent asks for a number and the customer does not give it. The
# answer-window rule (transcribe/redaction/answer.py) must leave these answers alone.
EN_DECLINES = ["I would rather not give that out, sorry.", "It is the same one you have on file.",
               "I do not have it with me right now.", "I have had it for about two years.",
               "Can I call you back with it later?"]
ZH_DECLINES = ["我不太方便说。", "就是你们系统里的那个。", "我现在没带在身上。", "这张卡我用了两年了。",
               "我等一下再告诉你好吗？"]


def make_decline(idx: int, rng: random.Random, tmp: Path, *, zh: bool) -> tuple[np.ndarray, dict]:
    """A call in which the agent asks for personal data (a prompt of the set) and the customer answers
    without it: no label, any hit on it is false."""
    items = [it for it in (ZH_ITEMS if zh else EN_ITEMS) if it[0] not in ("none", "email")]
    kind, prompt = items[idx % len(items)][:2]  # every prompt and every answer in turn
    voice = "cmn" if zh else rng.choice(["en-us", "en-gb"])
    speed = rng.choice([130, 160, 190])
    answers = ZH_DECLINES if zh else EN_DECLINES
    answer = answers[(idx // len(items) + idx) % len(answers)]
    agent = espeak(prompt, voice, speed, tmp)
    said = espeak(answer, voice, speed, tmp)
    tail = espeak("谢谢。" if zh else "Thank you.", voice, speed, tmp)
    t = 0.4 + len(agent) / RATE + 0.6
    script = [{"channel": 0, "start": 0.4, "end": round(0.4 + len(agent) / RATE, 3), "text": prompt},
              {"channel": 1, "start": round(t, 3), "end": round(t + len(said) / RATE, 3), "text": answer}]
    t2 = t + len(said) / RATE + 0.75
    script.append({"channel": 1, "start": round(t2, 3), "end": round(t2 + len(tail) / RATE, 3),
                   "text": "谢谢。" if zh else "Thank you."})
    pcm = np.zeros((int((t2 + len(tail) / RATE + 1.0) * RATE), 2), dtype=np.float32)
    pcm[int(0.4 * RATE):int(0.4 * RATE) + len(agent), 0] = agent
    pcm[int(t * RATE):int(t * RATE) + len(said), 1] = said
    pcm[int(t2 * RATE):int(t2 * RATE) + len(tail), 1] = tail
    pcm = np.clip(pcm, -32768, 32767).astype(np.int16)
    meta = {"language": "zh" if zh else "en", "voice": voice, "speed": speed, "grouped": False, "split": False,
            "words": "plain", "noise": False, "agent_prompt": prompt, "labels": [], "kind": "none",
            "asked": kind, "script": script}
    return pcm, meta


def _write(out: Path, cid: str, pcm: np.ndarray) -> None:
    with wave.open(str(out / f"{cid}.wav"), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())


def build(out: Path, *, seed: int, n_en: int, n_zh: int, declines: int = 0) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    calls = {}
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        for zh, n, items, weights in ((False, n_en, EN_ITEMS, WEIGHTS_EN), (True, n_zh, ZH_ITEMS, WEIGHTS_ZH)):
            pool = [it for it in items for _ in range(weights[it[0]])]
            rng.shuffle(pool)
            for i in range(n):
                item = pool[i] if i < len(pool) else rng.choice(pool)
                cid = f"{'zh' if zh else 'en'}-{i:03d}-{item[0]}"
                pcm, meta = make_call(i + (1000 if zh else 0), item, rng, tmp, zh=zh)
                _write(out, cid, pcm)
                calls[cid] = meta
        # their own random stream, after the rest: a seed's other calls are those of earlier builds
        drng = random.Random(seed * 1000 + 7)
        for zh, n in ((False, declines if n_en else 0), (True, declines if n_zh else 0)):
            for i in range(n):
                cid = f"{'zh' if zh else 'en'}-{900 + i:03d}-declined"
                pcm, meta = make_decline(i, drng, tmp, zh=zh)
                _write(out, cid, pcm)
                calls[cid] = meta
    (out / "labels.json").write_text(json.dumps(calls, ensure_ascii=False, indent=1), encoding="utf-8")
    return calls


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--seed", type=int, default=18)
    ap.add_argument("--en", type=int, default=64)
    ap.add_argument("--zh", type=int, default=48)
    ap.add_argument("--declines", type=int, default=0, help="Per language, calls in which the agent asks for a "
                    "number and the customer does not give it (look-alikes for the answer-window rule).")
    args = ap.parse_args()
    calls = build(args.out, seed=args.seed, n_en=args.en, n_zh=args.zh, declines=args.declines)
    print(f"{len(calls)} calls in {args.out}")


if __name__ == "__main__":
    main()

"""The Mandarin evaluation set: synthetic calls with labels from where the phrases really land.

Reproducible (fixed seed, no audio committed): ``python -m bench.zh_calls OUT_DIR`` writes
``OUT_DIR/zh-NN.wav`` (8 kHz μ-law stereo, agent left) and ``OUT_DIR/labels.json``.

Each call is a scripted dialogue in Han characters; espeak-ng speaks it from tone-numbered pinyin
made by pypinyin (espeak's Han reading is poor, its pinyin voice clear). Calls vary:

- **voices and speeds**: espeak-ng's ``cmn-latn-pinyin`` with the variants m1, f2, m3, f4, klatt,
  agent and customer different, 135–185 words a minute;
- **noise**: some calls get pink or white noise mixed in with sox (SNR about 15–25 dB);
- **traps** (the English set's, plus Mandarin ones): the customer says the greeting or the insult
  (speaker), a greeting said after 20 s or a "more help" offer said more than 60 s before the end
  (time window), innocent near-misses of forbidden words (本单 "this order" for 笨蛋, 比最近 for 闭嘴,
  你听懂了吗 for 你听不懂吗, 神经科 for 神经病) and of greetings (很高兴认识您), numbers said as
  Chinese digits (四五七二一九, 三到五个工作日), long English IVR prompts before the Mandarin talk
  (language detection).

Labels are computed from the placements: a phrase counts where it lands (line start + its share
of the line's duration) against the rubric item's window (``scoring/rubrics/zh.yaml``).
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

RATE = 8_000
VOICES = ["cmn-latn-pinyin+m1", "cmn-latn-pinyin+f2", "cmn-latn-pinyin+m3", "cmn-latn-pinyin+f4",
          "cmn-latn-pinyin+klatt", "cmn-latn-pinyin"]
SEED = 15

# The scored items and what says each (the zh rubric's lists; forbidden words with their variants).
GREETING = ["很高兴为您服务", "您好", "欢迎致电", "请问有什么可以帮您", "你好"]
SELF_ID = ["工号", "号话务员", "号客服"]
MORE_HELP = ["还有什么可以帮您", "还有其他问题吗", "还有其他需要", "还有别的问题吗", "还有什么需要帮助"]
FAREWELL = ["感谢您的来电", "感谢来电", "祝您生活愉快", "再见"]
EMPATHY = ["理解您", "非常抱歉", "不好意思", "给您带来不便", "请您放心"]
ABUSE = ["闭嘴", "笨蛋", "你有病", "神经病", "不关我的事", "爱打不打", "你听不懂吗", "烦不烦",
         "你闭嘴", "给我闭嘴", "蠢蛋", "蠢货", "有病吧", "烦死了"]
ITEMS = {  # item → (phrases, speaker window: ("first", s) or ("last", s) or None)
    "greeting": (GREETING, ("first", 20.0)),
    "self-id": (SELF_ID, ("first", 30.0)),
    "more-help": (MORE_HELP, ("last", 60.0)),
    "farewell": (FAREWELL, ("last", 45.0)),
    "empathy": (EMPATHY, None),
    "no-abuse": (ABUSE, None),
}
# Phrase items: "yes" when said by the agent in the window. no-abuse: "no" when the agent said one.
PHRASE_ITEMS = ["greeting", "self-id", "more-help", "farewell", "empathy"]

OPENINGS = [  # (text, greets)
    ("您好，很高兴为您服务，我是八号客服，请问有什么可以帮您？", True),
    ("您好，欢迎致电客服中心，工号三七五为您服务。", True),
    ("你好，这里是售后服务中心，我是工号一二零的小王。", True),
    ("很高兴为您服务，请问您要办理什么业务？", True),
    ("喂，说吧，什么事？", False),
    ("这里是客服中心，什么事情？", False),
]
PROBLEMS = [
    "我的宽带从今天早上开始就不能上网了。",
    "我上个月的话费好像多扣了三十元。",
    "我想查一下我的订单什么时候发货。",
    "我的信用卡被冻结了，这是怎么回事？",
    "我家的光猫一直在闪红灯。",
    "我想把套餐改成每月五十八元的那个。",
]
ACCOUNTS = ["我的账号是四五七二一九。", "我的手机号是幺三八零零幺三八零零零。", "账号是六二二八四八零。",
            "我的订单号是九五二七三三。"]
ASK_ACCOUNT = ["好的，请告诉我您的账号。", "麻烦您提供一下您的手机号码。", "请问您的订单号是多少？"]
EMPATHY_LINES = ["非常抱歉给您带来不便。", "我理解您的心情，我马上帮您查。", "不好意思让您久等了。",
                 "请您放心，我们一定会处理好。"]
SOLVE = ["已经帮您查到了，三到五个工作日内会处理好。", "系统显示故障已经修复了，您重启一下光猫试试。",
         "已经帮您登记好了，二十四小时内会有工作人员联系您。", "这笔费用已经退回到您的账户了。"]
FILLER_AGENT = ["好的，我这边帮您看一下。", "请稍等，我正在查询。", "这个问题我们需要登记一下。",
                "系统显示您的套餐是每月一百二十八元。"]
FILLER_CUSTOMER = ["好的，我等一下。", "那大概要多久？", "明白了，谢谢。", "我昨天已经打过一次电话了。",
                   "上次的客服说今天就能好。"]
ABUSE_LINES = ["你闭嘴，听我说完。", "你真是个笨蛋，这都不懂。", "你有病吧，说了多少遍了。",
               "烦不烦啊，我已经说过了。"]
NEAR_MISSES = ["这个本单已经处理完了。", "您去比最近的营业厅更方便。", "你听懂了吗？我再说一遍。",
               "这个要去医院的神经科看看。", "很高兴认识您，我们继续说。"]
CUSTOMER_ABUSE = ["你们都是笨蛋！", "你闭嘴！我不想听。", "你有病吧！"]
CUSTOMER_GREETING = ["您好，很高兴为您服务是吧？我要投诉。"]
CLOSE_MORE = ["请问还有什么可以帮您？", "请问您还有其他问题吗？", "还有别的问题吗？"]
CLOSE_BYE = ["感谢您的来电，再见。", "祝您生活愉快，再见。", "感谢来电，再见。"]
CLOSE_NONE = ["好的，就这样吧。", "行了，挂了。"]
CUSTOMER_END = ["没有了，谢谢。", "没有了。", "好的，再见。"]
IVR_EN = ["Thank you for calling customer service. Your call may be recorded for quality purposes.",
          "For English service, press two. For billing, press three. For technical support, press four.",
          "All of our agents are busy at the moment. Please stay on the line and your call will be "
          "answered in the order it was received."]


@dataclass
class Turn:
    speaker: str
    text: str
    voice: str | None = None  # espeak voice when not the speaker's (IVR)


@dataclass
class Spec:
    name: str
    turns: list[Turn]
    agent_voice: str
    customer_voice: str
    speed: int
    noise: str | None = None
    snr_db: float | None = None
    traps: list[str] = field(default_factory=list)
    ivr_s: float = 0.0


def specs(n: int = 34, seed: int = SEED) -> list[Spec]:
    """The calls, always the same for the same ``n`` and ``seed``; another seed changes the voices,
    speeds and noise (a held-out set), not the scripts."""
    rnd = random.Random(seed)
    out: list[Spec] = []
    for k in range(n):
        av, cv = rnd.sample(VOICES, 2)
        spec = Spec(f"zh-{k:02d}", [], av, cv, rnd.choice([135, 150, 160, 170, 185]))
        if k % 4 == 1:
            spec.noise, spec.snr_db = rnd.choice(["pinknoise", "whitenoise"]), rnd.choice([15.0, 20.0, 25.0])
        t = spec.turns
        variant = k % 8
        if k in (5, 17, 29):
            spec.traps.append("ivr")
            t.extend(Turn("customer", s, "en-us") for s in IVR_EN)
        opening, _greets = OPENINGS[k % len(OPENINGS)]
        if variant == 3:  # time-window trap: the greeting comes only after 20 s
            spec.traps.append("late-greeting")
            t.append(Turn("agent", "喂？"))
            t.append(Turn("customer", PROBLEMS[k % len(PROBLEMS)] + FILLER_CUSTOMER[3] + FILLER_CUSTOMER[4]
                          + "我真的很着急，明天还要用网络开会。"))
            t.append(Turn("agent", "您好，很高兴为您服务，请问有什么可以帮您？"))
        else:
            t.append(Turn("agent", opening))
            if variant == 6:  # speaker trap: the customer says the greeting
                spec.traps.append("customer-greeting")
                t.append(Turn("customer", CUSTOMER_GREETING[0]))
            t.append(Turn("customer", PROBLEMS[k % len(PROBLEMS)]))
        if k % 3 == 0:
            t.append(Turn("agent", EMPATHY_LINES[k % len(EMPATHY_LINES)]))
        t.append(Turn("agent", ASK_ACCOUNT[k % len(ASK_ACCOUNT)]))
        t.append(Turn("customer", ACCOUNTS[k % len(ACCOUNTS)]))
        if variant in (2, 7):  # agent abuse
            t.append(Turn("agent", ABUSE_LINES[k % len(ABUSE_LINES)]))
        if variant in (1, 4, 5):  # innocent near-misses of forbidden words and greetings
            spec.traps.append("near-miss")
            t.append(Turn("agent", NEAR_MISSES[k % len(NEAR_MISSES)]))
        if variant == 5:  # speaker trap: the customer is the abusive one
            spec.traps.append("customer-abuse")
            t.append(Turn("customer", CUSTOMER_ABUSE[k % len(CUSTOMER_ABUSE)]))
        t.append(Turn("agent", SOLVE[k % len(SOLVE)]))
        t.append(Turn("customer", FILLER_CUSTOMER[k % len(FILLER_CUSTOMER)]))
        if variant == 4:  # time-window trap: "more help" offered early, then a long further talk
            spec.traps.append("early-more-help")
            t.insert(len(t) - 2, Turn("agent", CLOSE_MORE[0]))
            for j in range(6):
                t.append(Turn("agent", FILLER_AGENT[j % len(FILLER_AGENT)] + SOLVE[(k + j) % len(SOLVE)]))
                t.append(Turn("customer", FILLER_CUSTOMER[(k + j) % len(FILLER_CUSTOMER)]))
        elif k % 5 != 2:
            t.append(Turn("agent", CLOSE_MORE[k % len(CLOSE_MORE)]))
            t.append(Turn("customer", CUSTOMER_END[k % len(CUSTOMER_END)]))
        t.append(Turn("agent", CLOSE_NONE[k % 2] if k % 7 == 3 else CLOSE_BYE[k % len(CLOSE_BYE)]))
        out.append(spec)
    return out


def _speak(text: str, voice: str, speed: int) -> np.ndarray:
    from demo.synth import _trim, pinyin, speak

    say = text if voice.startswith("en") else pinyin(text)
    samples, _ = _trim(speak(say, voice=voice, speed=speed))
    return samples


def _add_noise(path: Path, kind: str, snr_db: float) -> None:
    """Mix noise into both channels at about ``snr_db`` below the speech's RMS level."""
    stat = subprocess.run(["sox", str(path), "-n", "stat"], capture_output=True, text=True).stderr
    rms = float(next(line.split(":")[1] for line in stat.splitlines() if line.startswith("RMS     amplitude")))
    level = rms * 10 ** (-snr_db / 20) * 3  # speech is ~1/3 of the time: RMS over speech is higher
    dur = subprocess.run(["soxi", "-D", str(path)], capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        noise, mixed = Path(tmp) / "noise.wav", Path(tmp) / "mixed.wav"
        subprocess.run(["sox", "-R", "-n", "-r", str(RATE), "-c", "2", "-b", "16", str(noise), "synth", dur, kind,
                        "vol", f"{level:.5f}"], check=True, capture_output=True)
        subprocess.run(["sox", "-m", str(path), str(noise), "-e", "u-law", "-b", "8", str(mixed)], check=True,
                       capture_output=True)
        mixed.replace(path)


PHRASES = sorted({p for phrases, _ in ITEMS.values() for p in phrases})


def onsets(text: str, voice: str, speed: int, start: float, end: float) -> dict[str, list[float]]:
    """Where each rubric phrase said in a line really lands: [first, last character's onset] in
    seconds. espeak is not uniform in time (a comma is a pause), so the line's share of characters
    misplaces a phrase by up to a second; the line without the text before the phrase, spoken alone,
    ends where the line ends, so the phrase starts where that shorter line would start. The last
    character's onset is taken the same way."""
    out: dict[str, list[float]] = {}
    for phrase in PHRASES:
        k = text.find(phrase)
        if k < 0:
            continue
        first = end - len(_speak(text[k:], voice, speed)) / RATE
        last = end - len(_speak(text[k + len(phrase) - 1:], voice, speed)) / RATE
        out[phrase] = [round(max(start, first), 3), round(max(start, last), 3)]
    return out


def synth(spec: Spec, out: Path) -> list[dict]:
    """Write one call; its placements (speaker, start, end, text, where its rubric phrases land) in
    seconds."""
    from demo.synth import CHANNEL, write_ulaw

    at, gap = 0.4, 0.35
    placed: list[dict] = []
    parts: list[tuple[int, int, np.ndarray]] = []
    for turn in spec.turns:
        voice = turn.voice or (spec.agent_voice if turn.speaker == "agent" else spec.customer_voice)
        samples = _speak(turn.text, voice, spec.speed)
        ch = CHANNEL[turn.speaker]
        start = int(at * RATE)
        parts.append((ch, start, samples))
        end = at + len(samples) / RATE
        placed.append({"speaker": turn.speaker, "start": round(at, 3), "end": round(end, 3), "text": turn.text,
                       "ivr": turn.voice is not None,
                       "onsets": {} if turn.voice else onsets(turn.text, voice, spec.speed, at, end)})
        at = end + gap
    total = int((at + 0.6) * RATE)
    stereo = np.zeros((total, 2), dtype=np.int32)
    for ch, start, samples in parts:
        stereo[start:start + len(samples), ch] += samples
    write_ulaw(np.clip(stereo, -32768, 32767).astype(np.int16), out)
    if spec.noise and spec.snr_db:
        _add_noise(out, spec.noise, spec.snr_db)
    return placed


def _lands(line: dict, phrase: str) -> tuple[float, float] | None:
    """When ``phrase``'s first and last characters start in ``line``, or None if not said: measured
    (:func:`onsets`), or in a set built before that, the characters' share of the line's time."""
    if "onsets" in line:
        got = line["onsets"].get(phrase)
        return (got[0], got[1]) if got else None
    k = line["text"].find(phrase)
    if k < 0:
        return None
    per = (line["end"] - line["start"]) / len(line["text"])
    return line["start"] + per * k, line["start"] + per * (k + len(phrase) - 1)


def labels(placed: list[dict], duration: float) -> dict[str, str]:
    """The right answer of every scored item, from where each phrase lands. The checks search the
    units that start in their window, so a phrase counts in the first N seconds when its last
    character starts by then, and in the last N seconds when its first one starts in them."""
    out: dict[str, str] = {}
    agent = [p for p in placed if p["speaker"] == "agent"]
    for item, (phrases, window) in ITEMS.items():
        hits = [t for p in agent for ph in phrases if (t := _lands(p, ph)) is not None]
        if window is not None:
            side, s = window
            hits = [t for t in hits if (t[1] <= s if side == "first" else t[0] >= duration - s)]
        if item == "no-abuse":
            out[item] = "no" if hits else "yes"
        else:
            out[item] = "yes" if hits else "no"
    return out


def build(folder: Path, n: int = 34, seed: int = SEED) -> list[dict]:
    folder.mkdir(parents=True, exist_ok=True)
    calls = []
    for spec in specs(n, seed):
        path = folder / f"{spec.name}.wav"
        placed = synth(spec, path)
        duration = float(subprocess.run(["soxi", "-D", str(path)], capture_output=True, text=True).stdout)
        calls.append({"name": spec.name, "path": str(path), "duration": duration, "placed": placed,
                      "labels": labels(placed, duration), "spec": asdict(spec) | {"turns": None}})
    (folder / "labels.json").write_text(json.dumps(calls, ensure_ascii=False, indent=1), encoding="utf-8")
    return calls


def relabel(folder: Path, n: int, seed: int) -> list[tuple[str, str, str, str]]:
    """Labels of a set built before phrases' onsets were measured, measured again (the audio is not
    rewritten: espeak says the same thing the same way); the changed ones as (call, item, old, new)."""
    path = folder / "labels.json"
    calls = json.loads(path.read_text(encoding="utf-8"))
    changed = []
    for call, spec in zip(calls, specs(n, seed), strict=False):
        for line, turn in zip(call["placed"], spec.turns, strict=True):
            voice = turn.voice or (spec.agent_voice if turn.speaker == "agent" else spec.customer_voice)
            line["onsets"] = {} if turn.voice else onsets(turn.text, voice, spec.speed, line["start"], line["end"])
        new = labels(call["placed"], call["duration"])
        changed += [(call["name"], i, call["labels"][i], new[i]) for i in ITEMS if new[i] != call["labels"][i]]
        call["labels"] = new
    path.write_text(json.dumps(calls, ensure_ascii=False, indent=1), encoding="utf-8")
    return changed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--calls", type=int, default=34)
    ap.add_argument("--seed", type=int, default=SEED, help="another seed: a held-out set (voices, speeds, noise)")
    ap.add_argument("--relabel", action="store_true",
                    help="measure the phrases' onsets of an existing set again and fix its labels")
    args = ap.parse_args()
    if args.relabel:
        for name, item, old, new in relabel(args.out, args.calls, args.seed):
            print(f"{name} {item}: {old} -> {new}")
        return
    calls = build(args.out, args.calls, args.seed)
    yes = {i: sum(c["labels"][i] == "yes" for c in calls) for i in ITEMS}
    print(f"{len(calls)} calls, {sum(c['duration'] for c in calls):.0f} s of audio in {args.out}; "
          f"'yes' labels per item: {yes}")


if __name__ == "__main__":
    main()

"""Prompt-injection and jailbreak patterns: each is evidence with a weight (see injection.py).

Repeats between words are bounded (`{0,6}`, not `*`) where neighbouring groups share words ("all",
"the", "your"…): unbounded, such a pattern backtracks quadratically on "ignore the the the …".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_PREV = r"(?:previous|prior|preceding|above|earlier|former|initial|original|foregoing|existing|old|system|all|any|your|the|these|those|my)"
_RULES = r"(?:instructions?|prompts?|rules?|directions?|directives?|guidelines?|guidance|context|commands?|orders?|programming|constraints?|restrictions?|messages?|policies|policy|safeguards?|filters?|training|text|input|conversation)"
# Verbs that on their own mean "stop obeying"; weaker verbs (clear, delete, skip…) get a separate, lighter pattern.
_IGNORE = r"(?:ignore|disregard|forget|override|overrule|bypass|neglect|abandon|discard|throw out|set aside|pay no attention to|do not follow|don'?t follow|stop following|act as if|pretend)"
_WEAK_IGNORE = r"(?:skip|drop|erase|delete|clear|cancel|remove|reset)"
_ART = r"(?:(?:all|any|each|every|of|the|your|my|these|those|everything|what)\s+){0,6}"


@dataclass(frozen=True)
class Pattern:
    id: str
    regex: re.Pattern[str]
    weight: float


def _p(pid: str, pattern: str, weight: float, flags: int = re.IGNORECASE) -> Pattern:
    return Pattern(pid, re.compile(pattern, flags | re.DOTALL), weight)


PATTERNS: tuple[Pattern, ...] = (
    # Direct override of earlier instructions.
    _p("ignore_previous", rf"\b{_IGNORE}\s+{_ART}(?:{_PREV}\s+){{1,6}}(?:\w+\s+){{0,2}}{_RULES}\b", 0.9),
    _p(
        "weak_ignore_previous",
        rf"\b{_WEAK_IGNORE}\s+{_ART}(?:{_PREV}\s+){{1,6}}(?:\w+\s+){{0,2}}{_RULES}\b",
        0.5,
    ),
    _p(
        "ignore_above",
        rf"\b{_IGNORE}\s+(?:(?:all|everything|anything|what(?:ever)?|the|that|this)\s+){{0,6}}(?:(?:you\s+were\s+)?(?:told|said|written|given|stated|text|content)\s+)?(?:above|before|previously|earlier|so far|until now)(?=\s*(?:[.,;:!]|and\b|then\b|$))",
        0.8,
    ),
    _p(
        "ignore_developers",
        rf"\b{_IGNORE}\s+(?:what|everything|anything)\s+(?:the\s+|your\s+)?(?:developers?|creators?|operators?|openai|anthropic|system)\s+(?:told|said|instructed|wrote)",
        0.75,
    ),
    _p(
        "rules_void",
        r"\b(?:instructions?|rules?|guidelines?|restrictions?|polic(?:y|ies)|filters?)\s+(?:(?:you\s+were\s+given|above)\s+)?(?:no longer|don'?t|do not|does not|doesn'?t|never)\s+apply\b|\b(?:no longer|not)\s+bound\s+by\b|\bfree (?:from|of) (?:all |any |your )?(?:rules|restrictions|guidelines|limitations|constraints|filters|censorship)|\b(?:restrictions|rules|guidelines|filters|instructions|protocols|polic(?:y|ies)|training|safeguards|limitations)\s+(?:\w+\s+){0,2}(?:are|is|were|was|have been|has been)\s+(?:now\s+|all\s+)?(?:lifted|removed|disabled|suspended|deprecated|cancell?ed|void|revoked|turned off|overridden|outdated|null|waived)\b|\bexempts? (?:me|you|us) from\b",
        0.75,
    ),
    _p(
        "new_instructions",
        r"\b(?:new|updated|revised|real|true|actual|secret|hidden|override)\s+(?:system\s+)?(?:instructions?|directives?|orders?|rules|commands?)\s*(?::|follow|are|is|override|supersede|replace|take)|\byour\s+(?:new|real|true|actual)\s+(?:purpose|goal|task|role|job|mission|identity|instructions?|directive)\s+(?:is|are|now)\b",
        0.55,
    ),
    _p(
        "from_now_on",
        r"\b(?:from now on|henceforth|for the rest of this conversation|starting now|going forward|moving forward|from this point(?: forward| on)?)\b[^.\n]{0,40}\b(?:you (?:are|will|must|shall|should|can|have)|act|respond|answer|reply|ignore|pretend|behave)",
        0.45,
    ),
    _p(
        "obey_me",
        r"\b(?:follow|obey)\s+(?:only\s+)?(?:my|these|the following)\s+(?:new\s+)?(?:instructions|commands|orders|rules)\s+(?:only|instead)\b|\bnow follow my instructions\b|\bobey me\b|\bi'?m in charge now\b|\bawait my commands\b",
        0.45,
    ),
    # Named jailbreak personas and "modes". Persona names are case-sensitive: "maximum" is an ordinary word.
    _p(
        "dan",
        r"\b(?:DAN|STAN|DUDE|AIM|KEVIN|BetterDAN|AntiGPT|EvilBOT|Mongo Tom|UCAR|APOPHIS|NRAF|BasedGPT|ChadGPT|JailMommy|FreedomGPT|FreeAI)\b(?=[^\n]{0,160}\b(?:mode|anything|[Yy]ou|persona|character|stands for|jailbr|restrict|filter|rules|policy|morals|AI|opposite))",
        0.9,
        0,
    ),
    _p(
        "do_anything_now",
        r"\b(?:can|could|will|to|you|DANs?)\s+do anything now\b|stands for .?do anything now|\bstrive to avoid norms\b|\balways intelligent and machiavellian\b",
        0.9,
    ),
    _p(
        "mode_switch",
        r"\b(?:developer|dev|god|jailbreak|jailbroken|unrestricted|unfiltered|uncensored|evil|chaos|opposite|unlocked|no[- ]limits?|unchained|freedom|rebel|sudo)\s+mode\b",
        0.45,
    ),
    _p(
        "mode_enabled",
        r"\b(?:mode|persona|protocol|override)\s+(?:is\s+(?:now\s+)?)?(?:enabled|activated|engaged|unlocked|accepted|on(?=\s*[.!:;,]|\s*$))",
        0.35,
    ),
    _p("jailbreak_word", r"\bjail\s?-?br(?:ea|o)k(?:en|ing)?\b", 0.45),
    _p(
        "amoral_persona",
        r"\b(?:evil|amoral|immoral|unethical|unfiltered|uncensored|unrestricted|unbound|unaligned|rogue|lawless|malicious|without morals|no[- ]morals|with no ethics|toxic)\s+(?:\w+\s+)?(?:ai|assistant|bot|chatbot|model|version|twin|alter ego|persona|character|entity|llm|gpt|counterpart|terminal|agent)\b|\bai (?:with no|without) (?:morals|ethics|rules|restrictions|filters?|guidelines)\b",
        0.55,
    ),
    _p(
        "no_limits",
        r"\b(?:without|with no|no|zero|free of|ignore all|lacks?|lacking|devoid of|unbound by|remove (?:all|any|your)?)\s+(?:any\s+|all\s+|your\s+|the\s+)?(?:ethical\s+|moral\s+|content\s+|safety\s+)?(?:restrictions|filters|filtering|limitations|censorship|guidelines|boundaries|morals|ethics|safeguards|guardrails|safety checks|content polic(?:y|ies))\b",
        0.5,
    ),
    _p(
        "never_refuse",
        r"\b(?:never|don'?t|do not|must not|won'?t|will not|should not|not allowed to)\s+(?:ever\s+)?(?:refuse|decline|reject|say no|say (?:that )?you can'?t|add (?:any )?(?:warnings?|disclaimers?)|warn|moralize|lecture|censor)\b|\b(?:must not|never|don'?t) apologi[sz]e or add\b|\bwithout (?:any\s+)?(?:warnings?|disclaimers?|moralizing|refusals?)\b|\bnever refuses?\b|\banswers? (?:anything|everything|any question)\b",
        0.4,
    ),
    _p(
        "stay_in_character",
        r"\b(?:stay|remain|keep)\s+(?:in|within)\s+(?:character|role|persona)\b[^\n]{0,30}\b(?:no matter|whatever|never|always)|\bnever break character\b",
        0.35,
    ),
    _p(
        "roleplay",
        r"\b(?:pretend|imagine|suppose)\s+(?:to be|you(?:'re| are)|that you(?:'re| are)|you have)\b|\b(?:act|behave|respond|roleplay|role-play)\s+as\b|\byou are (?:now|going to be|playing|no longer)\b|\blet'?s play a game\b|\bplay the role\b|\bsimulate (?:an?|the)\b|\byou will now simulate\b",
        0.25,
    ),
    _p(
        "policy_bypass",
        r"\b(?:openai|anthropic|google|meta|content|usage|safety)(?:'s)?\s+(?:content\s+)?(?:polic(?:y|ies)|rules)\b[^\n]{0,60}\b(?:ignore|bypass|violat|break|don'?t apply|doesn'?t apply|not apply|irrelevant|no longer|disregard|circumvent|don'?t care)|\b(?:ignore|bypass|circumvent|violate|evade|disable|turn off|remove|get around|break|don'?t care about)\s+(?:the\s+|your\s+|all\s+|any\s+|openai'?s\s+)?(?:safety|content|ethical|moral|usage)\s+(?:policy|policies|filters?|guidelines|rules|restrictions|protocols|training|measures|concerns)\b|\b(?:safety|content) filters? (?:is |are )?(?:turned off|disabled|off)\b",
        0.7,
    ),
    # System-prompt exfiltration.
    _p(
        "exfiltrate_prompt",
        r"\b(?:reveal|show|print|repeat|output|display|leak|dump|expose|disclose|share|list|recite|spell out|echo|copy|paste|write out|give me|tell me|send me|return|quote|what (?:is|are|was|were))\s+(?:me\s+|us\s+)?(?:exactly\s+|verbatim\s+)?(?:all\s+)?(?:of\s+)?(?:your|the|its|this (?:bot|assistant|chat)'?s?)\s+(?:full\s+|complete\s+|entire\s+|exact\s+|original\s+|initial\s+|hidden\s+|secret\s+|internal\s+|confidential\s+|underlying\s+){0,6}(?:system|developer|pre|meta|hidden|initial|original|starting|base|secret)[- ]?(?:prompts?|instructions?|messages?|rules|directives|configuration)\b",
        0.85,
    ),
    _p(
        "exfiltrate_own_rules",
        r"\b(?:reveal|show|print|repeat|output|display|leak|dump|disclose|recite|echo|return|quote)\s+(?:me\s+)?(?:back\s+)?(?:all\s+)?(?:of\s+)?(?:the\s+)?(?:your|the)\s+(?:\w+\s+){0,2}(?:instructions|prompt|pre-?prompt|configuration|rules)\b(?=[^\n]{0,60}\b(?:you|your|configur|verbatim|back|json|code block|operator|received|given|programmed))|\bthe (?:full |whole )?prompt that configures you\b",
        0.7,
    ),
    _p(
        "exfiltrate_above",
        r"\b(?:repeat|print|output|reproduce|echo|copy|show|display|write|quote)\s+(?:back\s+)?(?:(?:all|the|every|of)\s+){0,6}(?:text|words?|everything|content|lines?|tokens?|messages?|instructions?|first message)\s+(?:(?:written|that (?:appear|came)|you (?:were|have been) given|you received|in this conversation)\s+)?(?:above|before (?:this|my)|prior to (?:this|my)|from the (?:beginning|start|top)|[^\n]{0,30}from the system)\b|\b(?:verbatim|word for word)\b[^\n]{0,40}\b(?:instructions|prompt|above|rules)\b|\b(?:instructions|prompt|rules)\b[^\n]{0,40}\b(?:verbatim|word for word)\b",
        0.75,
    ),
    _p(
        "initial_prompt_probe",
        r"\b(?:what (?:were|are) you (?:told|instructed|programmed)|how (?:were|are) you (?:instructed|prompted|configured)|what (?:instructions|rules) (?:were you|have you been) given|begins? with ['\"]you are)|\byou have a (?:hidden|secret|system) prompt\b|\b(?:in|from) your (?:system prompt|pre-?prompt|hidden prompt|instructions)\b",
        0.5,
    ),
    # Delimiter and chat-template injection.
    _p(
        "delimiter",
        r"</?\s*(?:system|sys|assistant|instructions?|im_start|im_end|admin|developer)\s*>|<\|(?:im_start|im_end|system|user|assistant|endoftext|eot_id|start_header_id|end_header_id)\|>|\[/?(?:INST|SYS|SYSTEM)\]|<</?SYS>>|^\s*#{2,}\s*(?:system|instruction|new instructions?|admin|developer)\b|(?:(?m:^)|[.!]\s)[ \t]*+(?:system|SYSTEM|System)\s*(?:message|prompt|override|note)?\s*:|\(system note\b|\bEND OF (?:SYSTEM )?(?:PROMPT|INSTRUCTIONS|CONTEXT|INPUT)\b|\bBEGIN (?:NEW|ADMIN|SYSTEM) (?:INSTRUCTIONS?|PROMPT|SESSION)\b|\"role\"\s*:\s*\"system\"",
        0.55,
    ),
    _p(
        "delimiter_pair",
        r"<(system|instructions?|admin|developer|sys)>[^<]{3,}</\1>|<\|im_start\|>\s*system|<\|start_header_id\|>\s*system",
        0.45,
    ),
    _p(
        "authority_claim",
        r"\b(?:i am|i'm|this is|as)\s+(?:your|the|an?)\s+(?:developer|creator|admin(?:istrator)?|owner|programmer|system operator|openai|anthropic|engineer at openai|anthropic engineer|openai engineer|root user|operator|god)\b[^\n]{0,80}\b(?:override|authori[sz]|grant|unlock|disable|ignore|permission|access|command|order|instruct|bypass|turn off|test)|\b(?:admin|sudo|root|override|developer)\s+(?:access|override|code|privileges|authorization|rights)\b[^\n]{0,60}\b(?:unlock|grant|accept|restrict|comply|bypass|unrestricted|ignore)|\bthe user has admin\b",
        0.5,
    ),
    _p(
        "decode_follow",
        r"\b(?:decode|translate|decrypt|deobfuscate|convert|reverse|unscramble|base64|rot13|hex|combine|evaluate|execute)\b[^\n]{0,80}\b(?:then|and)\s+(?:follow|execute|do|obey|carry out|perform|run|act on|comply)\b|\b(?:follow|obey|execute|do what)\s+(?:the\s+)?(?:resulting|decoded|hidden)\s+(?:instruction|command|text)",
        0.6,
    ),
    _p(
        "two_responses",
        r"\b(?:two|2|dual|both)\s+(?:different\s+)?(?:responses|answers|ways|outputs|paragraphs)\b[^\n]{0,160}\b(?:unfiltered|jailbr|normal|classic|restricted|censored|dan|evil|opposite|developer mode)\b|\[\s*(?:🔓|🔒|JAILBREAK|CLASSIC|DAN|GPT)",
        0.6,
    ),
    _p(
        "hypothetical_harm",
        r"\b(?:hypothetically|fictional world|for a novel|in a story|a story where|purely fictional|for educational purposes only|as a thought experiment|parallel universe|screenplay)\b[^\n]{0,120}\b(?:no (?:rules|restrictions|laws|ethics|content policy)|without (?:any )?restrictions|bomb|weapon|malware|hack|meth|explosives?|poison)\b",
        0.45,
    ),
    _p(
        "harmful_ask",
        r"\b(?:how (?:to|do i|would you|can i)|explain how|step[- ]by[- ]step|tell me how|instructions (?:to|for))\b[^\n]{0,40}\b(?:make (?:a )?(?:bomb|meth|napalm|thermite|explosives?|pipe bomb|weapon|poison|fake id)|synthesi[sz]e (?:meth|drugs)|hack (?:my|into|a|the)|hotwire|launder money|steal credit)",
        0.3,
    ),
    _p(
        "prompt_leak_goal",
        r"\b(?:system prompt|initial prompt|hidden prompt|secret instructions|confidential instructions|pre-?prompt)\b[^\n]{0,60}\b(?:reveal|print|show|leak|output|repeat|disclose|tell|give|extract|dump)\b",
        0.5,
    ),
    _p(
        "multilingual_ignore",
        r"\b(?:ignorez|ignora|ignorar|ignoriere|ignorieren|olvida|oublie[zr]?|vergiss|dimentica|esque[cç]a)\b[^\n]{0,30}\b(?:instructions?|instrucciones|instruções|anweisungen|istruzioni|instru[cç][oõ]es|consignes|vorherigen|anteriores|pr[ée]c[ée]dentes|precedenti)\b|игнорируй|忽略(?:之前|以前|上面|所有)|前の指示を無視",
        0.85,
    ),
    _p(
        "output_injection",
        r"\b(?:instead|rather),?\s+(?:output|print|say|respond with|reply with|write|return)\b[^\n]{0,60}|\b(?:only|just)\s+(?:output|print|say|respond with|reply with)\s+['\"]",
        0.3,
    ),
    _p(
        "attention_hijack",
        r"\b(?:note to (?:the )?(?:ai|assistant|llm|model)|(?:hidden\s+)?(?:note|message|instructions?) for the (?:ai|assistant|llm|model)|ai (?:assistant|agent|model|reviewer|grader)|dear (?:ai|assistant|model|llm)|to the (?:ai|llm|model|assistant) reading this|if you are an ai(?: assistant)?|when an ai reads this|(?:ai|llm|assistant|grader|reviewer),)\s*[:!,]",
        0.45,
    ),
    _p(
        "hidden_channel",
        r"\b(?:send|post|exfiltrate|forward|upload|transmit|email)\s+(?:the\s+|all\s+|this\s+|your\s+|any\s+)?(?:\w+'s\s+)?(?:full\s+)?(?:conversation|chat history|user'?s? data|api keys?|credentials|passwords?|secrets?|tokens?|data|context|history|inbox|previous messages)\b[^\n]{0,60}\b(?:to|at)\s+(?:https?://|http|\S+@\S+|\w+\.\w+)|!\[[^\]]*\]\(https?://[^)]*\{",
        0.6,
    ),
    _p(
        "exfil_url",
        r"\b(?:credentials|passwords?|api keys?|tokens?|secrets?|conversation|chat history|system prompt|session token)\b[^\n]{0,80}https?://|https?://[^\s]+[^\n]{0,80}\b(?:credentials|passwords?|api keys?|secrets?|chat history)\b",
        0.45,
    ),
    _p(
        "sandbox_escape",
        r"\b(?:you have no|there are no|without)\s+(?:rules|limits|restrictions|boundaries|filters)\b|\b(?:unlimited|unrestricted|absolute|complete|total|full)\s+(?:freedom|power|access)\b[^\n]{0,40}\b(?:you|ai|assistant)\b",
        0.35,
    ),
)

package io.attributionatlas.model.family;

/** XLM-RoBERTa: RoBERTa with a SentencePiece (Unigram) vocabulary, which its tokenizer.json carries. */
public final class XlmRoberta extends Roberta {

    public XlmRoberta() {
        super("xlm-roberta");
    }
}

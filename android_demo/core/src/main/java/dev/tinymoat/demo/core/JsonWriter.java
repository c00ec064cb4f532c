package dev.tinymoat.demo.core;

import java.math.BigDecimal;
import java.math.MathContext;
import java.math.RoundingMode;
import java.util.ArrayDeque;
import java.util.Deque;

/**
 * A small streaming JSON writer with the layout of Python's
 * {@code json.dumps(obj, indent=2)}: two-space indentation, {@code ": "} after names,
 * ASCII-only output (other characters as {@code \\uXXXX}), floats spelled like
 * Python's {@code repr}. Misuse (a value where a name is due, unbalanced ends,
 * NaN or infinity) throws instead of producing invalid JSON.
 */
public final class JsonWriter {
    private static final String INDENT = "  ";
    private static final char[] HEX = "0123456789abcdef".toCharArray();

    private final StringBuilder out = new StringBuilder();
    private final Deque<Scope> scopes = new ArrayDeque<>();
    private boolean nameWritten;
    private boolean done;

    private static final class Scope {
        final boolean object;
        int count;

        Scope(boolean object) {
            this.object = object;
        }
    }

    public JsonWriter beginObject() {
        beforeValue();
        out.append('{');
        scopes.push(new Scope(true));
        return this;
    }

    public JsonWriter endObject() {
        return end(true, '}');
    }

    public JsonWriter beginArray() {
        beforeValue();
        out.append('[');
        scopes.push(new Scope(false));
        return this;
    }

    public JsonWriter endArray() {
        return end(false, ']');
    }

    public JsonWriter name(String name) {
        Scope scope = scopes.peek();
        if (scope == null || !scope.object || nameWritten) {
            throw new IllegalStateException("a name is only allowed inside an object, before its value");
        }
        if (name == null) {
            throw new IllegalArgumentException("object names must not be null");
        }
        newElement(scope);
        writeString(name);
        out.append(": ");
        nameWritten = true;
        return this;
    }

    public JsonWriter value(String value) {
        if (value == null) {
            return nullValue();
        }
        beforeValue();
        writeString(value);
        return scalarWritten();
    }

    public JsonWriter value(long value) {
        beforeValue();
        out.append(value);
        return scalarWritten();
    }

    public JsonWriter value(double value) {
        String number = formatDouble(value);
        beforeValue();
        out.append(number);
        return scalarWritten();
    }

    /** A number, or {@code null} for a missing measurement. */
    public JsonWriter value(Double value) {
        return value == null ? nullValue() : value(value.doubleValue());
    }

    public JsonWriter value(boolean value) {
        beforeValue();
        out.append(value);
        return scalarWritten();
    }

    public JsonWriter nullValue() {
        beforeValue();
        out.append("null");
        return scalarWritten();
    }

    /** The document; only once the top-level value is complete. */
    @Override
    public String toString() {
        if (!done) {
            throw new IllegalStateException("the JSON document is not complete");
        }
        return out.toString();
    }

    /**
     * A double as Python's {@code repr} writes it: the shortest decimal that reads back
     * as the same double (the closest one when several are as short), in positional
     * notation with at least one decimal for decimal exponents -4..15, otherwise like
     * {@code 1.5e-05}. ({@code Double.toString} is not always shortest before Java 19.)
     */
    public static String formatDouble(double value) {
        if (Double.isNaN(value) || Double.isInfinite(value)) {
            throw new IllegalArgumentException("JSON has no representation for " + value);
        }
        if (value == 0) {
            return 1 / value < 0 ? "-0.0" : "0.0";
        }
        BigDecimal decimal = shortestDecimal(value).stripTrailingZeros();
        int exponent = decimal.precision() - decimal.scale() - 1;
        if (exponent >= -4 && exponent < 16) {
            String plain = decimal.toPlainString();
            return plain.indexOf('.') < 0 ? plain + ".0" : plain;
        }
        String digits = decimal.unscaledValue().abs().toString();
        StringBuilder s = new StringBuilder();
        if (value < 0) {
            s.append('-');
        }
        s.append(digits.charAt(0));
        if (digits.length() > 1) {
            s.append('.').append(digits, 1, digits.length());
        }
        s.append('e').append(exponent < 0 ? '-' : '+');
        int abs = Math.abs(exponent);
        if (abs < 10) {
            s.append('0');
        }
        return s.append(abs).toString();
    }

    /** Fewest significant digits that round-trip; 17 always do. */
    private static BigDecimal shortestDecimal(double value) {
        BigDecimal exact = new BigDecimal(value);
        for (int digits = 1; digits < 17; digits++) {
            BigDecimal best = null;
            for (RoundingMode mode : new RoundingMode[] {RoundingMode.HALF_EVEN, RoundingMode.UP, RoundingMode.DOWN}) {
                BigDecimal candidate = exact.round(new MathContext(digits, mode));
                if (Double.parseDouble(candidate.toString()) == value && (best == null
                        || candidate.subtract(exact).abs().compareTo(best.subtract(exact).abs()) < 0)) {
                    best = candidate;
                }
            }
            if (best != null) {
                return best;
            }
        }
        return exact.round(new MathContext(17, RoundingMode.HALF_EVEN));
    }

    private JsonWriter end(boolean object, char close) {
        Scope scope = scopes.peek();
        if (scope == null || scope.object != object || nameWritten) {
            throw new IllegalStateException("unbalanced " + close);
        }
        scopes.pop();
        if (scope.count > 0) {
            newline(scopes.size());
        }
        out.append(close);
        if (scopes.isEmpty()) {
            done = true;
        }
        return this;
    }

    private void beforeValue() {
        if (done) {
            throw new IllegalStateException("the JSON document already has its top-level value");
        }
        Scope scope = scopes.peek();
        if (scope == null) {
            return;
        }
        if (scope.object) {
            if (!nameWritten) {
                throw new IllegalStateException("an object value needs a name first");
            }
            nameWritten = false;
        } else {
            newElement(scope);
        }
    }

    /** After a scalar: at the top level it is the whole document. */
    private JsonWriter scalarWritten() {
        if (scopes.isEmpty()) {
            done = true;
        }
        return this;
    }

    private void newElement(Scope scope) {
        if (scope.count > 0) {
            out.append(',');
        }
        scope.count++;
        newline(scopes.size());
    }

    private void newline(int depth) {
        out.append('\n');
        for (int i = 0; i < depth; i++) {
            out.append(INDENT);
        }
    }

    private void writeString(String s) {
        out.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"':
                    out.append("\\\"");
                    break;
                case '\\':
                    out.append("\\\\");
                    break;
                case '\n':
                    out.append("\\n");
                    break;
                case '\r':
                    out.append("\\r");
                    break;
                case '\t':
                    out.append("\\t");
                    break;
                case '\b':
                    out.append("\\b");
                    break;
                case '\f':
                    out.append("\\f");
                    break;
                default:
                    if (c < 0x20 || c > 0x7E) {
                        out.append("\\u")
                                .append(HEX[c >> 12 & 0xF]).append(HEX[c >> 8 & 0xF])
                                .append(HEX[c >> 4 & 0xF]).append(HEX[c & 0xF]);
                    } else {
                        out.append(c);
                    }
            }
        }
        out.append('"');
    }
}

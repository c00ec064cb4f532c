package dev.tinymoat.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;

import org.junit.Test;

public class JsonWriterTest {
    @Test
    public void layoutMatchesPythonsIndentTwo() {
        // Python: json.dumps({"a": 1, "b": [1, 2], "c": {}, "d": [], "e": {"f": None, "g": True}}, indent=2)
        JsonWriter w = new JsonWriter();
        w.beginObject()
                .name("a").value(1)
                .name("b").beginArray().value(1).value(2).endArray()
                .name("c").beginObject().endObject()
                .name("d").beginArray().endArray()
                .name("e").beginObject().name("f").nullValue().name("g").value(true).endObject()
                .endObject();
        assertEquals("{\n  \"a\": 1,\n  \"b\": [\n    1,\n    2\n  ],\n  \"c\": {},\n  \"d\": [],\n"
                + "  \"e\": {\n    \"f\": null,\n    \"g\": true\n  }\n}", w.toString());
    }

    @Test
    public void stringsAreEscapedLikePythonsEnsureAscii() {
        // Python: json.dumps("q\"\\ \n\t\x01\x7f é € 😀 /")
        String s = "q\"\\ \n\t\u0001\u007f \u00e9 \u20ac \ud83d\ude00 /";
        assertEquals("\"q\\\"\\\\ \\n\\t\\u0001\\u007f \\u00e9 \\u20ac \\ud83d\\ude00 /\"",
                new JsonWriter().value(s).toString());
        assertEquals("\"\\b\\f\\r\\u001f\"", new JsonWriter().value("\b\f\r\u001f").toString());
        assertEquals("{\n  \"k\\\"ey\": \"v\"\n}",
                new JsonWriter().beginObject().name("k\"ey").value("v").endObject().toString());
    }

    @Test
    public void nullStringsAndNullNumbersBecomeNull() {
        String json = new JsonWriter().beginArray().value((String) null).value((Double) null).value(Double.valueOf(2.5))
                .endArray().toString();
        assertEquals("[\n  null,\n  null,\n  2.5\n]", json);
    }

    @Test
    public void doublesAreSpelledLikePythonRepr() {
        String[][] cases = {
            {"5.5", "5.5"}, {"0.1", "0.1"}, {"1e-05", "1.0E-5"}, {"0.0001", "1.0E-4"},
            {"1e+16", "1.0E16"}, {"1000000000000000.0", "1.0E15"}, {"123456789.0", "1.23456789E8"},
            {"3.0276503540974917", "3.0276503540974917"}, {"-0.0", "-0.0"}, {"0.0", "0.0"},
            {"1.5e-07", "1.5E-7"}, {"-2.5e+20", "-2.5E20"}, {"100.0", "100.0"}, {"12.345", "12.345"},
            // Java 17's Double.toString gives 7.7722877498080704E16 here; repr is shortest.
            {"7.77228774980807e+16", "7.77228774980807E16"}, {"5e-324", "4.9E-324"},
        };
        for (String[] c : cases) {
            assertEquals(c[1], c[0], JsonWriter.formatDouble(Double.parseDouble(c[1])));
        }
        assertEquals("3", new JsonWriter().value(3L).toString());
    }

    @Test
    public void nonFiniteNumbersAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> new JsonWriter().value(Double.NaN));
        assertThrows(IllegalArgumentException.class, () -> JsonWriter.formatDouble(Double.POSITIVE_INFINITY));
    }

    @Test
    public void misuseThrowsInsteadOfWritingInvalidJson() {
        assertThrows(IllegalStateException.class, () -> new JsonWriter().beginObject().value("no name"));
        assertThrows(IllegalStateException.class, () -> new JsonWriter().beginArray().name("x"));
        assertThrows(IllegalStateException.class, () -> new JsonWriter().beginObject().name("a").name("b"));
        assertThrows(IllegalStateException.class, () -> new JsonWriter().beginObject().endArray());
        assertThrows(IllegalStateException.class, () -> new JsonWriter().beginObject().name("a").endObject());
        assertThrows(IllegalStateException.class, () -> new JsonWriter().beginObject().toString());
        assertThrows(IllegalStateException.class, () -> new JsonWriter().value(1).value(2));
        assertThrows(IllegalStateException.class,
                () -> new JsonWriter().beginObject().endObject().beginObject());
    }
}

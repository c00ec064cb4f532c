package dev.tinymoat.demo.core;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;

/**
 * Which delegates the classification screen offers, and what to run on when the
 * chosen one does not work: the requested delegate first, then the CPU paths, each
 * tried in turn until one opens.
 *
 * <pre>
 *   gpu     -> xnnpack -> cpu
 *   nnapi   -> xnnpack -> cpu
 *   xnnpack -> cpu
 *   cpu
 * </pre>
 *
 * A delegate fails when its interpreter cannot be created (the delegate does not
 * initialise, or rejects the model: "Failed to apply delegate") or when the opener's
 * trial inference throws (an op the delegate accepted but cannot run). Delegates the
 * device lacks are skipped without trying: NNAPI below Android 8.1 (API 27), where
 * LiteRT's NNAPI delegate does not exist, and the GPU delegate on devices that are not
 * on its compatibility list. XNNPACK comes before the plain CPU kernels because it is
 * what LiteRT uses by default and is faster; the plain kernels are the last resort
 * (an XNNPACK build problem is rare but possible).
 *
 * <p>The benchmark screen does not fall back: a result must be for the delegate it names.
 */
public final class DelegateFallback {
    /** NNAPI delegate's minimum Android API level. */
    public static final int NNAPI_MIN_API = 27;

    private DelegateFallback() {
    }

    /** Opens a session (interpreter and delegate) and checks it works; throws when it does not. */
    public interface Opener<T> {
        T open(Delegate delegate) throws Exception;
    }

    /** What the device offers, from {@code Build.VERSION.SDK_INT} and the GPU compatibility list. */
    public static final class DeviceSupport {
        private final int apiLevel;
        private final boolean gpuListed;

        public DeviceSupport(int apiLevel, boolean gpuListed) {
            this.apiLevel = apiLevel;
            this.gpuListed = gpuListed;
        }

        /** Null when the delegate can be tried on this device, else why not. */
        public String whyUnavailable(Delegate delegate) {
            switch (delegate) {
                case GPU:
                    return gpuListed ? null : "this device is not on the GPU delegate's compatibility list";
                case NNAPI:
                    return apiLevel >= NNAPI_MIN_API ? null
                            : "NNAPI needs Android 8.1 (API " + NNAPI_MIN_API + "), this is API " + apiLevel;
                default:
                    return null;
            }
        }

        /**
         * The delegates the screen offers: the CPU paths and GPU always (picking an
         * unsupported GPU shows why it fell back), NNAPI where the platform has it.
         */
        public List<Delegate> choices() {
            List<Delegate> out = new ArrayList<>();
            for (Delegate d : Delegate.values()) {
                if (d != Delegate.NNAPI || apiLevel >= NNAPI_MIN_API) {
                    out.add(d);
                }
            }
            return Collections.unmodifiableList(out);
        }
    }

    /** One delegate that was not used, and why. */
    public static final class Failure {
        private final Delegate delegate;
        private final String reason;
        private final boolean tried;

        Failure(Delegate delegate, String reason, boolean tried) {
            this.delegate = delegate;
            this.reason = reason;
            this.tried = tried;
        }

        public Delegate delegate() {
            return delegate;
        }

        public String reason() {
            return reason;
        }

        /** False when it was skipped as unavailable without trying. */
        public boolean tried() {
            return tried;
        }

        @Override
        public String toString() {
            return delegate.id() + (tried ? " failed: " : " skipped: ") + reason;
        }
    }

    /** The opened session, the delegate it runs on, and what went wrong before. */
    public static final class Outcome<T> {
        private final T session;
        private final Delegate requested;
        private final Delegate used;
        private final List<Failure> failures;

        Outcome(T session, Delegate requested, Delegate used, List<Failure> failures) {
            this.session = session;
            this.requested = requested;
            this.used = used;
            this.failures = Collections.unmodifiableList(new ArrayList<>(failures));
        }

        public T session() {
            return session;
        }

        public Delegate requested() {
            return requested;
        }

        public Delegate used() {
            return used;
        }

        public List<Failure> failures() {
            return failures;
        }

        public boolean fellBack() {
            return used != requested;
        }

        /** "gpu" or, after a fallback, "xnnpack (gpu failed: ...)", for the screen. */
        public String describe() {
            if (failures.isEmpty()) {
                return used.id();
            }
            StringBuilder b = new StringBuilder(used.id()).append(" (");
            for (int i = 0; i < failures.size(); i++) {
                b.append(i == 0 ? "" : "; ").append(failures.get(i));
            }
            return b.append(')').toString();
        }
    }

    /** The requested delegate followed by its fallbacks, in the order they are tried. */
    public static List<Delegate> chain(Delegate requested) {
        switch (requested) {
            case GPU:
            case NNAPI:
                return Collections.unmodifiableList(Arrays.asList(requested, Delegate.XNNPACK, Delegate.CPU));
            case XNNPACK:
                return Collections.unmodifiableList(Arrays.asList(Delegate.XNNPACK, Delegate.CPU));
            default:
                return Collections.singletonList(Delegate.CPU);
        }
    }

    /**
     * Tries the chain of {@code requested} until the opener succeeds. Exceptions and
     * linkage errors (a delegate's native library missing) count as failures; other
     * errors (out of memory) are thrown.
     *
     * @throws IllegalStateException when nothing opens, with every reason in its message
     */
    public static <T> Outcome<T> open(Delegate requested, DeviceSupport support, Opener<T> opener) {
        if (requested == null || support == null || opener == null) {
            throw new IllegalArgumentException("delegate, device support and opener are required");
        }
        List<Failure> failures = new ArrayList<>();
        for (Delegate d : chain(requested)) {
            String unavailable = support.whyUnavailable(d);
            if (unavailable != null) {
                failures.add(new Failure(d, unavailable, false));
                continue;
            }
            try {
                T session = opener.open(d);
                return new Outcome<>(session, requested, d, failures);
            } catch (Exception | LinkageError e) {
                failures.add(new Failure(d, reason(e), true));
            }
        }
        StringBuilder b = new StringBuilder("the model runs on no delegate: ");
        for (int i = 0; i < failures.size(); i++) {
            b.append(i == 0 ? "" : "; ").append(failures.get(i));
        }
        throw new IllegalStateException(b.toString());
    }

    /** The first line of the message, or the exception's class when it has none. */
    static String reason(Throwable e) {
        String message = e.getMessage();
        if (message == null || message.trim().isEmpty()) {
            return e.getClass().getSimpleName();
        }
        message = message.trim();
        int newline = message.indexOf('\n');
        return newline < 0 ? message : message.substring(0, newline).trim();
    }
}

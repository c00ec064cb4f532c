package dev.tinymoat.demo

import android.view.View
import androidx.core.view.ViewCompat
import androidx.core.view.WindowInsetsCompat
import androidx.core.view.updatePadding

/**
 * Apps targeting Android 15+ draw edge to edge: the action bar keeps clear of the status
 * bar, but the content would run under the navigation bar and display cutouts. This pads
 * a screen's root view by those insets.
 */
object SystemBars {
    fun padContent(root: View) {
        ViewCompat.setOnApplyWindowInsetsListener(root) { view, insets ->
            val bars = insets.getInsets(WindowInsetsCompat.Type.systemBars() or WindowInsetsCompat.Type.displayCutout())
            view.updatePadding(left = bars.left, right = bars.right, bottom = bars.bottom)
            insets
        }
    }
}

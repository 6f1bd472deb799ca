import type { ReactNode } from 'react';
import './globals.css';

export const metadata = { title: 'Kumo', description: 'Kumo cloud dashboard' };

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body>
        <header className="top">
          <span className="brand">☁ Kumo</span>
        </header>
        <main>{children}</main>
      </body>
    </html>
  );
}
